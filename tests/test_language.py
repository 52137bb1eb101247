"""The language-model path (optim.language, optim.models.lstm): data layout against Zaremba
et al.'s reader, learning on a made-up token stream, the store, and the spec's refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optim import language, ptb, runner
from optim.spec import RunSpec


def zaremba_iterator(raw_data, batch_size, num_steps):
    """Zaremba et al.'s ``reader.ptb_iterator`` (TensorFlow's PTB tutorial), transcribed."""
    raw_data = np.array(raw_data, dtype=np.int32)
    batch_len = len(raw_data) // batch_size
    data = np.zeros([batch_size, batch_len], dtype=np.int32)
    for i in range(batch_size):
        data[i] = raw_data[batch_len * i:batch_len * (i + 1)]
    for i in range((batch_len - 1) // num_steps):
        yield data[:, i * num_steps:(i + 1) * num_steps], data[:, i * num_steps + 1:(i + 1) * num_steps + 1]


def test_streams_and_segments_are_zarembas_batches_plus_the_last_short_segment():
    tokens = torch.arange(1003)
    ours = list(language.segments(language.streams(tokens, 4), 7))
    theirs = list(zaremba_iterator(tokens.numpy(), 4, 7))
    assert len(ours) == len(theirs) + 1  # the reader drops the tail; we train on it
    for (x, y), (tx, ty) in zip(ours, theirs):
        np.testing.assert_array_equal(x.t().numpy(), tx)
        np.testing.assert_array_equal(y.t().numpy(), ty)
    last_x, last_y = ours[-1]
    assert len(last_x) == (250 - 1) % 7 and torch.equal(last_y[-1], language.streams(tokens, 4)[-1])
    with pytest.raises(ValueError, match="3 tokens are too few for 4 streams"):
        language.streams(torch.arange(3), 4)


@pytest.fixture
def cyclic_stream(monkeypatch):
    """PTB replaced by a stream that repeats 0..4: a language model can learn it exactly."""
    monkeypatch.setattr(ptb, "load", lambda split="train": torch.arange(4000 if split == "train" else 600) % 5)


SMALL = dict(model_args=dict(hidden=32, layers=1), batch_size=8, bptt=10, n_train=None, n_test=None, log_every=5)


def test_a_language_model_learns_a_repeating_stream(cyclic_stream):
    spec = RunSpec("lstm_lm", "ptb", "adam", dict(lr=3e-2), epochs=3, clip_norm=5.0, **SMALL)
    out = language.train(spec, torch.device("cpu"), progress=False)
    first, last = out["epochs"][0], out["epochs"][-1]
    assert first["train_loss"] < math.log(10_000)  # the uniform guess over the vocabulary
    # well below ln 5 = 1.61, the best a model that ignores the order could do
    assert last["train_loss"] < 0.5 and last["test_loss"] < 0.5 and last["val_loss"] < 0.5
    assert out["sizes"] == {"train": 4000, "validation": 600, "test": 600} and not out["diverged"]
    short = spec.replace(epochs=1, n_train=800)
    a, b = (language.train(short, torch.device("cpu"), progress=False) for _ in range(2))
    assert a["steps"]["train_loss"] == b["steps"]["train_loss"]  # same seed, same numbers


def test_language_runs_are_stored_and_tidied_like_any_run(cyclic_stream, tmp_path):
    spec = RunSpec("lstm_lm", "ptb", "sgd", dict(lr=1.0), epochs=2, initial_evaluation=True, **SMALL)
    frame = runner.run_many([spec], root=tmp_path, progress=False)
    assert frame["epoch"].tolist() == [0, 1, 2] and frame["test_loss"].notna().all()
    assert frame["train_loss"].iloc[1:].notna().all() and "test_acc" in frame.columns
    stored = runner.run_many([spec], root=tmp_path, progress=False)  # read back, not trained again
    assert stored["test_loss"].tolist() == frame["test_loss"].tolist()


@pytest.mark.parametrize("native", [True, False])
def test_a_bf16_lstm_is_refused_before_any_work_on_a_cpu_without_native_bf16(cyclic_stream, tmp_path, monkeypatch,
                                                                             native):
    """oneDNN has no bf16 LSTM on such a CPU: the run would fail after loading its data, and a
    chapter after its other runs; the runner says so first and writes nothing."""
    monkeypatch.setattr("optim.training.native_bf16", lambda device: native)
    spec = RunSpec("lstm_lm", "ptb", "sgd", dict(lr=1.0), epochs=1, precision="bf16", **SMALL)
    fp32 = spec.replace(precision="fp32")
    if native:
        runner.check_trainable_on(spec, torch.device("cpu"))  # no error: the device can
        return
    with pytest.raises(ValueError, match=r"^RunSpec precision='bf16' cannot train model 'lstm_lm' on this cpu "
                                         r"without native bf16 .*AVX512-BF16 or AMX, or a GPU"):
        runner.run_many([fp32, spec], root=tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.json.gz"))  # not even the fp32 run, listed first
    runner.check_trainable_on(fp32, torch.device("cpu"))
    runner.check_trainable_on(RunSpec("cnn", "mnist", "sgd", precision="bf16"), torch.device("cpu"))  # emulated


@pytest.mark.parametrize("make, message", [
    (lambda: RunSpec("cnn", "ptb", "sgd"), "model='cnn' is invalid: expected one of lstm_lm for ptb"),
    (lambda: RunSpec("lstm_lm", "mnist", "sgd"), "dataset='mnist' is invalid: expected one of ptb for the language model"),
    (lambda: RunSpec("mlp", "mnist", "sgd", bptt=35), "bptt=35 is invalid: expected its default (20)"),
    (lambda: RunSpec("mlp", "mnist", "sgd", clip_norm=5.0), "clip_norm=5.0 is invalid: expected its default (0.0)"),
    (lambda: RunSpec("lstm_lm", "ptb", "sgd", clip_norm=-1.0), "clip_norm=-1.0 is invalid: expected a number >= 0"),
    (lambda: RunSpec("lstm_lm", "ptb", "sgd", bptt=0), "bptt=0 is invalid: expected a positive integer"),
    (lambda: RunSpec("lstm_lm", "ptb", "sgd", validation=0.1), "validation=0.1 is invalid: expected 0.0 for a language"),
])
def test_language_model_specs_refuse_what_does_not_apply(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_the_new_fields_leave_every_older_key_unchanged():
    # keys computed by the code before bptt and clip_norm existed
    assert RunSpec("logreg", "mnist", "adam").key() == "a57539c5c7fd53184aa7c7ad"
    assert RunSpec("wrn", "fashion-mnist", "adamw", dict(lr=1e-3), epochs=30, eval_every=3).key() == "cd8b4693fe320a7d9d412914"
    assert RunSpec("lstm_lm", "ptb", "sgd", bptt=35).key() != RunSpec("lstm_lm", "ptb", "sgd").key()


def test_the_lstm_starts_uniform_in_its_init_range_and_maps_ids_to_next_token_logits():
    from optim.models import build_model

    model = build_model("lstm_lm", (1, 1, 1), 50, hidden=12, layers=2, init_range=0.05)
    assert all(p.abs().max() <= 0.05 for p in model.parameters())
    logits, (h, c) = model(torch.randint(0, 50, (7, 3)))
    assert logits.shape == (7, 3, 50) and h.shape == (2, 3, 12)
    with pytest.raises(ValueError, match="hidden=0 is invalid"):
        build_model("lstm_lm", (1, 1, 1), 50, hidden=0)
