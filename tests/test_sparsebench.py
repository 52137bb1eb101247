"""The sparse logistic regression (optim.models.mlp.SparseLogisticRegression) against the dense
one, and its benchmark (optim.sparsebench)."""

import pytest
import torch
import torch.nn.functional as F

from optim import sparsebench
from optim.models.mlp import bags, logistic_regression


def _rows(n=6, features=40, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 1, features, generator=generator) < 0.2).float()


def test_bags_are_each_rows_nonzero_features_in_order():
    x = _rows() * torch.arange(1.0, 41.0)  # values other than one, to see them carried
    features, values, offsets = bags(x)
    flat = x.reshape(6, -1)
    assert features.tolist() == flat.nonzero()[:, 1].tolist()
    assert values.tolist() == flat[flat != 0].tolist()
    assert offsets.tolist() == [0, *torch.cumsum((flat != 0).sum(1), 0)[:-1].tolist()]


def test_without_dropout_the_sparse_model_computes_the_dense_models_logits_and_gradients():
    x, y = _rows(), torch.tensor([0, 1, 1, 0, 1, 0])
    dense, sparse = logistic_regression((1, 1, 40), 2), logistic_regression((1, 1, 40), 2, sparse_input=True)
    sparse.linear.load_state_dict(dense[-1].state_dict())
    outputs = []
    for model, linear in ((dense, dense[-1]), (sparse, sparse.linear)):
        out = model(x)
        F.cross_entropy(out, y).backward()
        outputs.append((out.detach(), linear.weight.grad, linear.bias.grad))
    for d, s in zip(*outputs):
        torch.testing.assert_close(s, d)
    by_hand = x.reshape(6, -1) @ dense[-1].weight.detach().t() + dense[-1].bias.detach()
    torch.testing.assert_close(outputs[1][0], by_hand)


def test_the_sparse_models_dropout_keeps_each_word_or_scales_it_as_inverted_dropout():
    torch.manual_seed(0)
    model = logistic_regression((1, 1, 40), 2, input_dropout=0.5, sparse_input=True)
    weight, bias = model.linear.weight.detach(), model.linear.bias.detach()
    one_word = torch.zeros(4000, 1, 1, 40)
    one_word[:, 0, 0, 7] = 1.0  # every row: word 7 alone
    shift = model(one_word).detach() - bias
    kept = shift.abs().sum(1) > 0
    torch.testing.assert_close(shift[kept], (2 * weight[:, 7]).expand(int(kept.sum()), 2))  # kept: ×1/(1 − p)
    assert shift[~kept].abs().max() == 0  # dropped: nothing
    assert kept.float().mean().item() == pytest.approx(0.5, abs=0.03)
    model.eval()  # no noise when evaluating: the dense model's logits
    x = _rows()
    torch.testing.assert_close(model(x), x.reshape(6, -1) @ weight.t() + bias)
    with pytest.raises(ValueError, match="input_dropout=1.0 is invalid"):
        logistic_regression((1, 1, 40), 2, input_dropout=1.0, sparse_input=True)


def test_both_forms_start_from_the_same_weights_for_the_same_seed():
    torch.manual_seed(3)
    dense = logistic_regression((1, 1, 40), 2, 0.5)
    torch.manual_seed(3)
    sparse = logistic_regression((1, 1, 40), 2, 0.5, sparse_input=True)
    torch.testing.assert_close(sparse.linear.weight, dense[-1].weight)


def test_the_step_times_are_measured_for_both_forms():
    x = (torch.rand(64, 1, 1, 100) < 0.05).to(torch.uint8) * 255
    seconds = sparsebench.step_times(x, torch.randint(2, (64,)), batch_size=16, steps=3)
    assert set(seconds) == {"dense", "sparse"} and all(s > 0 for s in seconds.values())


def test_side_by_side_timing_alternates_the_forms_on_every_batch(monkeypatch):
    from optim import sidebyside

    clock, calls = [0.0], []
    monkeypatch.setattr(sidebyside.time, "perf_counter", lambda: clock[0])

    def form(name, cost):
        def step(batch):
            calls.append((name, batch))
            clock[0] += cost * batch  # a fake clock: no timing in a unit test
        return step

    seconds = sidebyside.alternating_seconds({"a": form("a", 1.0), "b": form("b", 3.0)}, iter([1, 2]))
    assert calls == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert seconds == {"a": 1.5, "b": 4.5}
    with pytest.raises(ValueError, match="batches is empty"):
        sidebyside.alternating_seconds({"a": form("a", 1.0)}, [])
