"""A word-level LSTM language model: Zaremba, Sutskever & Vinyals (2014), "Recurrent neural
network regularization", §4.1 — the model of SWATS's (Keskar & Socher, 2017) language-model runs."""

from __future__ import annotations

import torch
from torch import nn


class LSTMLanguageModel(nn.Module):
    """Embedding → ``layers`` stacked LSTMs of ``hidden`` units → a linear map to the vocabulary's
    logits. ``dropout`` on the embedding, between the layers and on the last layer's output (the
    paper's non-recurrent dropout; its "small" model has none); every parameter starts uniform in
    ±``init_range`` (the paper's 0.1). ``forward(tokens, state)`` takes ids of shape (time, batch)
    and the previous segment's state (None: zeros) and returns logits (time, batch, vocabulary)
    and the new state, for truncated backpropagation through time."""

    TOKENS = True  # the engine feeds token ids, not images (optim.language)

    def __init__(self, vocabulary: int, hidden: int = 200, layers: int = 2, dropout: float = 0.0,
                 init_range: float = 0.1):
        super().__init__()
        for name, value, low in (("hidden", hidden, 1), ("layers", layers, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name}={value!r} is invalid: expected a positive integer")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} is invalid: expected a fraction in [0, 1)")
        if not init_range > 0:
            raise ValueError(f"init_range={init_range!r} is invalid: expected a number > 0")
        self.embedding = nn.Embedding(vocabulary, hidden)
        self.drop = nn.Dropout(dropout)
        self.lstm = nn.LSTM(hidden, hidden, layers, dropout=dropout if layers > 1 else 0.0)
        self.decoder = nn.Linear(hidden, vocabulary)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -init_range, init_range)

    def forward(self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        output, state = self.lstm(self.drop(self.embedding(tokens)), state)
        return self.decoder(self.drop(output)), state


def lstm_lm(in_shape: tuple[int, int, int], num_classes: int, hidden: int = 200, layers: int = 2,
            dropout: float = 0.0, init_range: float = 0.1) -> nn.Module:
    """:class:`LSTMLanguageModel` over a vocabulary of ``num_classes`` words (``in_shape`` is a
    token stream's (1, 1, 1)); the defaults are Zaremba et al.'s "small" model."""
    return LSTMLanguageModel(num_classes, hidden, layers, dropout, init_range)
