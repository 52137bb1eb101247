"""torch's generic optimizer contract, held against every optimizer of the package.

The checks follow the generic ones of PyTorch's ``test/test_optim.py`` (``TestOptimRenewed``):
state_dict round trips that leave ``state_dict()`` unchanged, resuming from a checkpoint,
torch's older checkpoint format, deepcopy and pickle, parameter groups, closures, step hooks,
schedulers, dtypes, memory layouts (a strided view), a tensor learning rate, ``maximize`` (against
torch's own optimizers where one computes the same algorithm) and clear refusals — on each of
an optimizer's kernel paths (single-tensor, multi-tensor, fused where it has one)."""

from __future__ import annotations

import copy
import pickle
import sys

import pytest
import torch

import optim
from optim import registry
from optim.optimizers.base import Record

# every record of the registry (the package's optimizers, optim.optimizers.RECORDS): the checks
# run on each kernel path its record lists; "fused" is torch's fused kernel
RECORDS = {record.name: record for record in registry.records()}
PATH_ARGS = {"single": dict(foreach=False), "multi": dict(foreach=True), "fused": dict(fused=True)}
CASES = [(name, path) for name, record in RECORDS.items() for path in record.paths]


def record_of(name: str):
    return next(r for r in registry.records() if r.name == name)


def make(name: str, params, path: str = "multi", **changes):
    record = record_of(name)
    return record.cls(params, **record.settings | PATH_ARGS[path] | changes)


def loss_of(params) -> torch.Tensor:
    """A smooth loss with a different gradient on every element (and a non-zero one at 0)."""
    return sum(((p - 0.3) ** 2 * torch.arange(1.0, p.numel() + 1).view_as(p)).sum() + p.sum() for p in params)


def fresh(seed: int = 0, dtype=torch.float32) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(4, 3, generator=g, dtype=dtype)),
            torch.nn.Parameter(torch.randn(5, generator=g, dtype=dtype))]


def train(opt, params, steps: int = 3, sign: float = 1.0) -> list[torch.Tensor]:
    for _ in range(steps):
        opt.zero_grad()
        (sign * loss_of(params)).backward()
        opt.step()
    return [p.detach().clone() for p in params]


def same(a, b) -> None:
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("name, path", CASES)
def test_a_state_dict_round_trip_deepcopy_and_pickle_leave_the_state_dict_unchanged(name, path):
    params = fresh()
    opt = make(name, params, path)
    train(opt, params)
    saved = opt.state_dict()
    again = make(name, [p.detach().clone().requires_grad_() for p in params], path)
    again.load_state_dict(copy.deepcopy(saved))
    for other in (again, copy.deepcopy(opt), pickle.loads(pickle.dumps(opt))):
        state = other.state_dict()
        assert [set(g) for g in state["param_groups"]] == [set(g) for g in saved["param_groups"]]
        assert state["param_groups"] == saved["param_groups"]
        assert state["state"].keys() == saved["state"].keys()
        for k, entry in saved["state"].items():
            assert state["state"][k].keys() == entry.keys()


@pytest.mark.parametrize("name, path", CASES)
def test_resuming_from_a_checkpoint_continues_as_if_never_stopped(name, path):
    straight = fresh()
    expected = train(make(name, straight, path), straight, steps=4)
    params = fresh()
    first = make(name, params, path)
    train(first, params, steps=2)
    checkpoint = copy.deepcopy(first.state_dict())
    resumed = make(name, params, path)
    resumed.load_state_dict(checkpoint)
    same(train(resumed, params, steps=2), expected)


@pytest.mark.parametrize("name, path", CASES)
def test_an_older_checkpoint_whose_step_is_a_python_number_loads_and_steps(name, path):
    reference = fresh()
    ref_opt = make(name, reference, path)
    train(ref_opt, reference, steps=2)
    params = fresh()
    opt = make(name, params, path)
    train(opt, params, steps=2)
    old = copy.deepcopy(opt.state_dict())
    for entry in old["state"].values():
        if "step" in entry:
            entry["step"] = float(entry["step"])  # torch's format before steps were tensors
    loaded = make(name, params, path)
    loaded.load_state_dict(old)
    same(train(loaded, params, steps=2), train(ref_opt, reference, steps=2))


@pytest.mark.parametrize("name, path", CASES)
def test_maximize_ascends_as_descent_on_the_negated_loss_does(name, path):
    up, down = fresh(), fresh()
    same(train(make(name, up, path, maximize=True), up, sign=-1.0), train(make(name, down, path), down))


@pytest.mark.parametrize("name", sorted(n for n, r in RECORDS.items() if r.reference))
def test_maximize_matches_the_reference_torch_optimizer(name):
    record = record_of(name)
    cls, extra = record.reference
    ours, theirs = fresh(), fresh()
    same(train(make(name, ours, "multi", maximize=True, **extra), ours),
         train(cls(theirs, maximize=True, **record.settings | extra), theirs))


@pytest.mark.parametrize("name, path", CASES)
def test_a_strided_view_parameter_steps_like_its_contiguous_copy(name, path):
    g = torch.Generator().manual_seed(1)
    storage = torch.randn(4, 8, generator=g)
    view = torch.nn.Parameter(storage[:, ::2])  # every other column: gaps in its memory
    assert not view.is_contiguous()
    dense = torch.nn.Parameter(view.detach().clone())
    if path == "fused":  # torch's fused kernel walks memory as one flat array: it must not take a view
        with pytest.raises(RuntimeError, match="fused=True needs .*not a strided view"):
            train(make(name, [view], path), [view])
        return
    same(train(make(name, [view], path), [view]), train(make(name, [dense], path), [dense]))


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_a_strided_view_is_stepped_correctly_on_the_default_path(name):
    view = torch.nn.Parameter(torch.randn(4, 8)[:, ::2])
    dense = torch.nn.Parameter(view.detach().clone())
    cls, settings = record_of(name).cls, record_of(name).settings
    # the view takes a path that handles gaps, the copy may take the fused kernel: equal to rounding
    for x, y in zip(train(cls([view], **settings), [view]), train(cls([dense], **settings), [dense])):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("name, path", CASES)
def test_a_tensor_learning_rate_steps_like_the_same_number(name, path):
    a, b = fresh(), fresh()
    same(train(make(name, a, path, lr=torch.tensor(1e-2)), a), train(make(name, b, path, lr=1e-2), b))


@pytest.mark.parametrize("name, path", CASES)
def test_each_parameter_group_steps_with_its_own_settings(name, path):
    params = fresh()
    grouped = make(name, [{"params": [params[0]]}, {"params": [params[1]], "lr": 5e-3}], path)
    apart = fresh()
    first, second = make(name, [apart[0]], path), make(name, [apart[1]], path, lr=5e-3)
    for _ in range(3):
        for opt in (grouped, first, second):
            opt.zero_grad()
        loss_of(params).backward()
        loss_of(apart).backward()
        grouped.step()
        first.step()
        second.step()
    same(params, apart)


@pytest.mark.parametrize("name, path", CASES)
def test_step_returns_the_closures_loss_and_runs_the_step_hooks(name, path):
    params = fresh()
    opt = make(name, params, path)
    calls = []
    opt.register_step_pre_hook(lambda *args: calls.append("pre"))
    opt.register_step_post_hook(lambda *args: calls.append("post"))

    def closure():
        opt.zero_grad()
        loss = loss_of(params)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert torch.is_tensor(loss) and loss.item() == pytest.approx(loss_of(fresh()).item())
    assert calls == ["pre", "post"]


@pytest.mark.parametrize("name, path", CASES)
def test_a_scheduler_drives_the_rate_as_setting_it_by_hand_does(name, path):
    scheduled, by_hand = fresh(), fresh()
    opt = make(name, scheduled, path)
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    manual = make(name, by_hand, path)
    for step in range(3):
        train(opt, scheduled, steps=1)
        schedule.step()
        for group in manual.param_groups:
            group["lr"] = 1e-2 * 0.5 ** step
        train(manual, by_hand, steps=1)
    same(scheduled, by_hand)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5 ** 3)


@pytest.mark.parametrize("name, path", CASES)
def test_float64_parameters_keep_float64_state(name, path):
    params = fresh(dtype=torch.float64)
    opt = make(name, params, path)
    train(opt, params)
    tensors = [v for entry in opt.state.values() for k, v in entry.items() if torch.is_tensor(v) and v.dim() > 0]
    assert tensors and all(t.dtype == torch.float64 for t in tensors)
    assert all(p.dtype == torch.float64 and torch.isfinite(p).all() for p in params)


@pytest.mark.parametrize("name", sorted(RECORDS))
@pytest.mark.parametrize("bad, message", [
    (dict(maximize="yes"), "maximize='yes' is invalid: expected one of True, False"),
    (dict(lr=-1.0), "lr=-1.0 is invalid: expected a value in"),
    (dict(lr=torch.tensor([1e-2, 1e-3])), "lr=tensor.* is invalid: expected a number"),
])
def test_a_bad_setting_is_refused_naming_it(name, bad, message):
    with pytest.raises(ValueError, match=message):
        make(name, fresh(), "multi", **bad)


# --- adding an optimizer, as the README says: its module, with its RECORDS --------------------------
TOY = """
import torch

from optim.optimizers.base import PaperOptimizer, Record, check_choice, check_range


def single_tensor_toy(params, grads, buffers, *, lr, momentum):
    for p, g, b in zip(params, grads, buffers):
        b.mul_(momentum).add_(g)
        p.add_(b, alpha=-lr)


def multi_tensor_toy(params, grads, buffers, *, lr, momentum):
    torch._foreach_mul_(buffers, momentum)
    torch._foreach_add_(buffers, grads)
    torch._foreach_add_(params, buffers, alpha=-lr)


class HeavyBall(PaperOptimizer):
    \"\"\"SGD with heavy-ball momentum: a contributor's first optimizer.\"\"\"

    KERNELS = {"single": single_tensor_toy, "multi": multi_tensor_toy}

    def __init__(self, params, lr=1e-2, momentum=0.9, *, maximize=False, foreach=None):
        check_range("lr", lr, 0.0)
        check_range("momentum", momentum, 0.0, 1.0)
        check_choice("maximize", maximize, (True, False))
        check_choice("foreach", foreach, (None, True, False))
        super().__init__(params, dict(lr=lr, momentum=momentum, maximize=maximize, foreach=foreach))

    def _init_state(self, p, state, group):
        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    def _update(self, group, params, grads, states, path):
        self.KERNELS[path](params, grads, [s["momentum_buffer"] for s in states], lr=group["lr"],
                           momentum=group["momentum"])


RECORDS = (Record("heavyball", HeavyBall, "user", dict(lr=1e-2, momentum=0.9), reference=(torch.optim.SGD, {})),)
"""
GENERIC = [test_a_state_dict_round_trip_deepcopy_and_pickle_leave_the_state_dict_unchanged,
           test_resuming_from_a_checkpoint_continues_as_if_never_stopped,
           test_an_older_checkpoint_whose_step_is_a_python_number_loads_and_steps,
           test_maximize_ascends_as_descent_on_the_negated_loss_does,
           test_a_strided_view_parameter_steps_like_its_contiguous_copy,
           test_a_tensor_learning_rate_steps_like_the_same_number,
           test_each_parameter_group_steps_with_its_own_settings,
           test_step_returns_the_closures_loss_and_runs_the_step_hooks,
           test_a_scheduler_drives_the_rate_as_setting_it_by_hand_does,
           test_float64_parameters_keep_float64_state]


def test_an_optimizer_added_as_the_readme_says_runs_every_generic_check_and_changes_no_chapter(tmp_path, monkeypatch):
    import importlib.util
    import json
    from pathlib import Path

    path = tmp_path / "heavyball.py"
    path.write_text(TOY)
    loaded = importlib.util.spec_from_file_location("heavyball", path)
    module = importlib.util.module_from_spec(loaded)
    monkeypatch.setitem(sys.modules, "heavyball", module)  # importable by name, as a package module is (pickle)
    loaded.loader.exec_module(module)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_RECORDS", dict(registry._RECORDS))
    optim.register_record(*module.RECORDS)  # what the package does for every module's RECORDS
    assert "heavyball" in optim.available() and record_of("heavyball").cls is module.HeavyBall
    for check in GENERIC:
        for path_name in record_of("heavyball").paths:
            check("heavyball", path_name)
    test_maximize_matches_the_reference_torch_optimizer("heavyball")
    test_a_strided_view_is_stepped_correctly_on_the_default_path("heavyball")
    # the speed benchmark times it against its record's torch reference, every variant of it
    from optim import bench

    ours, family, variants = bench.step_cases(module.RECORDS)["heavyball"]
    params = [torch.ones(4, 100, requires_grad=True)]
    assert family == "torch" and isinstance(ours(params), module.HeavyBall)
    assert {"default", "foreach"} <= set(variants) and all(isinstance(v(params), torch.optim.SGD) for v in variants.values())
    # the chapters pin their method lists: registering an optimizer never enlarges an experiment
    chapters = Path(__file__).resolve().parents[1] / "chapters"
    for notebook in sorted(chapters.glob("*.ipynb")):
        code = "".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code")
        assert "available()" not in code, f"{notebook.name} takes its methods from the registry"


def test_an_optimizer_states_the_ranges_of_its_own_hyperparameters_in_its_record(monkeypatch):
    class Friction(torch.optim.SGD):
        def __init__(self, params, lr=1e-2, friction=0.5):
            super().__init__(params, lr=lr, momentum=1.0 - friction)

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_RECORDS", dict(registry._RECORDS))
    optim.register_record(Record("friction", Friction, "user", dict(lr=1e-2), ranges={"friction": "unit"}))
    assert registry.check_hyperparameters("friction", dict(lr=0.1, friction=0.25)) == dict(lr=0.1, friction=0.25)
    with pytest.raises(ValueError, match=r"friction=1.5 is invalid: expected a value in \[0, 1\]"):
        registry.check_hyperparameters("friction", dict(friction=1.5))
    with pytest.raises(ValueError, match="lr=0.0 is invalid: expected a value > 0"):  # the common names' ranges
        registry.check_hyperparameters("friction", dict(lr=0.0))
    with pytest.raises(ValueError, match=r"ranges\['friction'\]='small' is invalid: expected one of positive"):
        optim.register_record(Record("friction2", Friction, "user", ranges={"friction": "small"}))
