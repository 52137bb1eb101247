"""optim.bf16: autocast's heavy operations computed in fp32 on bf16 operands, against the exact
(float64) result rounded once to bf16 — what native bf16 kernels return — and against
PyTorch's own autocast for everything else."""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from optim.bf16 import Bf16ByFp32, bf16_arithmetic
from optim.training import native_bf16

aten = torch.ops.aten
BF = torch.bfloat16


def bf16_ulps(value: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
    """|value − exact| in units of the last place of bf16 at ``exact`` (8 significant bits)."""
    scale = torch.ldexp(torch.ones_like(exact), torch.frexp(exact)[1] - 8)
    return (value.double() - exact).abs() / scale


def rounded_once(exact: torch.Tensor) -> torch.Tensor:
    return exact.to(BF).double()


def operands(*shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g).to(BF) for s in shapes]


CONV = ([1, 1], [1, 1], [1, 1], False, [0, 0], 1)  # stride, padding, dilation, transposed, output padding, groups
CASES = {
    "mm": lambda a, b: aten.mm(a, b),
    "addmm": lambda a, b: aten.addmm(b[0], a, b),
    "bmm": lambda a, b: aten.bmm(a.reshape(4, 16, 256), b.reshape(4, 256, 16)),
}


@pytest.mark.parametrize("name", CASES)
def test_a_matrix_product_is_the_exact_product_of_the_bf16_operands_rounded_once(name):
    a, b = operands((64, 256), (256, 64))
    with Bf16ByFp32():
        out = CASES[name](a, b)
    exact = CASES[name](a.double(), b.double())
    assert out.dtype == BF
    # fp32 accumulation of exact products, one rounding: within one bf16 ulp everywhere, and
    # equal to the once-rounded exact value except where the exact value sits near a tie
    assert bf16_ulps(out, exact).max() <= 1.0
    assert (out.double() != rounded_once(exact)).double().mean() < 0.01


def test_a_convolution_and_its_gradients_are_the_exact_values_rounded_once():
    x, w, g = operands((8, 16, 12, 12), (16, 16, 3, 3), (8, 16, 12, 12))
    with Bf16ByFp32():
        y = aten.convolution(x, w, None, *CONV)
        grads = aten.convolution_backward(g, x, w, [16], *CONV, [True, True, True])
    exact_y = aten.convolution(x.double(), w.double(), None, *CONV)
    exact = aten.convolution_backward(g.double(), x.double(), w.double(), [16], *CONV, [True, True, True])
    for value, reference in zip((y, *grads), (exact_y, *exact)):
        assert value.dtype == BF
        assert bf16_ulps(value, reference).max() <= 1.0


def test_pytorchs_fallback_is_less_exact_than_one_rounding_on_such_a_cpu():
    """Why the module exists, measured where it applies: without native bf16 PyTorch's own
    bf16 convolution gradient is further from the exact value than one rounding is."""
    if native_bf16(torch.device("cpu")):
        pytest.skip("this CPU computes bf16 natively: no fallback kernel to measure")
    x, w, g = operands((64, 32, 28, 28), (32, 32, 3, 3), (64, 32, 28, 28), seed=1)
    x, g = (t.contiguous(memory_format=torch.channels_last) for t in (x, g))
    w = (w * 0.05).contiguous(memory_format=torch.channels_last)
    args = ([32], *CONV, [False, True, False])
    exact = aten.convolution_backward(g.double(), x.double(), w.double(), *args)[1]
    fallback = aten.convolution_backward(g, x, w, *args)[1].double()
    with Bf16ByFp32():
        ours = aten.convolution_backward(g, x, w, *args)[1].double()
    error = {name: ((v - exact).norm() / exact.norm()).item() for name, v in (("fallback", fallback), ("ours", ours))}
    assert error["ours"] < error["fallback"], error
    assert error["ours"] <= ((rounded_once(exact) - exact).norm() / exact.norm()).item() * 1.01


class DtypeLog(TorchDispatchMode):
    """Every operation's name and its outputs' dtypes, in order."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flat = out if isinstance(out, (tuple, list)) else (out,)
        self.calls.append((str(func), tuple(t.dtype for t in flat if isinstance(t, torch.Tensor))))
        return out


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 10))


def step(emulate: bool):
    """One forward and backward pass under bf16 autocast; the operation log, the loss, the gradients."""
    model, x, y = small_net(), torch.randn(16, 1, 6, 6, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 10
    log = DtypeLog()
    with (Bf16ByFp32() if emulate else contextlib.nullcontext()), log:
        with torch.autocast("cpu", dtype=BF):
            out = model(x)
        loss = nn.functional.cross_entropy(out.float(), y)
        loss.backward()
    return log.calls, loss.item(), [p.grad for p in model.parameters()]


def test_autocasts_own_policy_is_untouched_every_operation_keeps_its_dtypes():
    ours, loss, grads = step(emulate=True)
    autocast, reference_loss, reference_grads = step(emulate=False)
    assert ours == autocast  # the same operations, in the same order, with the same output dtypes
    assert any(name == "aten.convolution_backward.default" for name, _ in ours)  # the backward pass was seen
    assert all(g.dtype == torch.float32 for g in grads)  # fp32 weights keep fp32 gradients
    assert loss == pytest.approx(reference_loss, rel=1e-2)
    for g, r in zip(grads, reference_grads):
        assert ((g - r).norm() / r.norm()).item() < 0.05  # both are bf16 arithmetic; they round differently


def test_the_emulation_is_used_only_for_bf16_on_a_cpu_without_it(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr("optim.training.native_bf16", lambda device: False)
    assert isinstance(bf16_arithmetic(cpu, True), Bf16ByFp32)
    assert isinstance(bf16_arithmetic(cpu, False), contextlib.nullcontext)  # an fp32 run
    monkeypatch.setattr("optim.training.native_bf16", lambda device: True)
    assert isinstance(bf16_arithmetic(cpu, True), contextlib.nullcontext)


@pytest.mark.skipif(not native_bf16(torch.device("cpu")), reason="needs a CPU with AMX or AVX512-BF16")
def test_on_a_native_bf16_cpu_the_emulation_matches_its_kernels():
    x, w, g = operands((16, 32, 14, 14), (32, 32, 3, 3), (16, 32, 14, 14), seed=2)
    native = (aten.convolution(x, w, None, *CONV), *aten.convolution_backward(g, x, w, [32], *CONV, [True, True, True]))
    with Bf16ByFp32():
        ours = (aten.convolution(x, w, None, *CONV), *aten.convolution_backward(g, x, w, [32], *CONV, [True, True, True]))
    for a, b in zip(ours, native):
        assert bf16_ulps(a, b.double()).max() <= 2.0  # the order of fp32 additions may differ, nothing else


def test_the_benchmark_stores_each_forms_time_and_the_appendix_shows_the_ratios(tmp_path, capsys):
    import json

    from optim import bf16bench
    from optim.bench_report import bf16_table

    out = tmp_path / "bf16-this.json"
    assert bf16bench.main(["--smoke", "--steps", "1", "--out", str(out)]) == 0
    stored = json.loads(out.read_text())
    seconds = stored["seconds_per_step"]
    assert list(seconds) == list(bf16bench.FORMS) and all(s > 0 for s in seconds.values())
    assert stored["native_bf16"] is native_bf16(torch.device("cpu"))
    row = bf16_table([stored]).iloc[0]
    assert row["bf16, fp32 kernels rounded (× fp32)"] == pytest.approx(seconds[bf16bench.FORMS[2]] / seconds["fp32"])
    assert "fp32 kernels, rounded / PyTorch's bf16 kernels" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "--steps=0 --threads=1 are invalid"),
    (["--smoke", "--out", "BENCH/bf16-x.json"], "is invalid with --smoke"),
])
def test_the_benchmark_refuses_bad_arguments_before_timing(args, message, capsys):
    from optim import bf16bench
    from optim.bench import BENCH_DIR

    with pytest.raises(SystemExit):
        bf16bench.main([a.replace("BENCH", str(BENCH_DIR)) for a in args])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("native", [False, True])
def test_a_bf16_run_trains_through_fp32_kernels_only_where_the_cpu_lacks_bf16(monkeypatch, native):
    from optim import training
    from optim.spec import RunSpec

    monkeypatch.setattr("optim.training.native_bf16", lambda device: native)
    seen = []
    dispatch = Bf16ByFp32.__torch_dispatch__

    def spy(self, func, types, args=(), kwargs=None):
        seen.append(str(func))
        return dispatch(self, func, types, args, kwargs)

    monkeypatch.setattr(Bf16ByFp32, "__torch_dispatch__", spy)
    spec = RunSpec("cnn", "digits", "adam", epochs=1, batch_size=32, n_train=64, n_test=20, precision="bf16")
    out = training.train(spec, progress=False)
    assert out["provenance"]["bf16_by_fp32"] is not native and out["provenance"]["native_bf16"] is native
    assert ("aten.convolution_backward.default" in seen) is not native  # training's backward passes too
    fp32 = training.train(spec.replace(precision="fp32"), progress=False)
    assert fp32["provenance"]["bf16_by_fp32"] is False


class Reached(TorchDispatchMode):
    """The operations that reach PyTorch's kernels with a bf16 input."""

    def __init__(self):
        super().__init__()
        self.bf16 = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if any(isinstance(a, torch.Tensor) and a.dtype == BF for a in (*args, *(kwargs or {}).values())):
            self.bf16.add(str(func).split(".")[1])
        return func(*args, **(kwargs or {}))


ACCUMULATING = ("conv", "mm", "linear", "matmul", "_convolution")


@pytest.mark.parametrize("inference", [False, True])
def test_no_accumulating_bf16_operation_reaches_pytorchs_kernels(inference):
    """Under autograd the dispatcher shows convolution and mm; under inference mode conv2d and
    linear (the composites): the emulation must take both, or evaluation runs PyTorch's slow
    bf16 kernels."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(4, 4, 2, stride=2),
                          nn.Flatten(), nn.Linear(4 * 12 * 12, 10))
    x = torch.randn(4, 1, 6, 6)
    reached = Reached()
    with reached, Bf16ByFp32():  # the emulation is called first; what it passes on reaches `reached`
        if inference:
            with torch.inference_mode(), torch.autocast("cpu", dtype=BF):
                model(x)
        else:
            with torch.autocast("cpu", dtype=BF):
                out = model(x)
            out.float().sum().backward()
    assert reached.bf16, "the model ran no bf16 operation at all"  # relu, the casts: bf16 is in play
    assert not [op for op in reached.bf16 if op.startswith(ACCUMULATING)], reached.bf16
