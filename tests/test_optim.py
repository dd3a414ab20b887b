"""ictus.optim against torch.optim: SGD, Adam, AdamW and RAdam step by step on the same parameters
and gradients (two groups, some gradients missing), their state dicts (torch's names, round trips
that continue bit-identically), Lookahead against a float64 reference, ReduceLROnPlateau's lr
sequence, clip_grad_norm_, and the errors for bad hyper-parameters."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from ictus import optim
from ictus.nn import Parameter
from ictus.serialization import load, save

SHAPES = [(1,), (7,), (3, 5), (2, 3, 4)]
STEPS = 40


def relative_error(got: np.ndarray, ref: np.ndarray, scale: float = 0.0) -> float:
    """||got - ref|| / max(||ref||, scale), norm-wise."""
    return float(np.linalg.norm(got.astype(np.float64) - ref) / max(np.linalg.norm(ref), scale, 1e-30))


def make_params(rng: np.random.Generator) -> tuple[list[Parameter], list[torch.Tensor]]:
    data = [rng.standard_normal(shape).astype(np.float32) for shape in SHAPES]
    return [Parameter(d.copy()) for d in data], [torch.tensor(d.copy(), requires_grad=True) for d in data]


def two_groups(params: list[Any], kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """Group 0 takes the defaults; group 1 has half the lr (and no weight decay where there is any)."""
    override = {"lr": kwargs["lr"] / 2, **({"weight_decay": 0.0} if "weight_decay" in kwargs else {})}
    return [{"params": params[:2]}, {"params": params[2:], **override}]


def set_grads(rng: np.random.Generator, step: int, params: list[Parameter], tensors: list[torch.Tensor]) -> None:
    """Fresh gradients; every 5th step parameter 1 has none (both optimizers must skip it)."""
    for i, (p, t) in enumerate(zip(params, tensors)):
        if i == 1 and step % 5 == 4:
            p.grad, t.grad = None, None
            continue
        g = rng.standard_normal(p.shape).astype(np.float32)
        p.grad, t.grad = g, torch.from_numpy(g.copy())


CASES = {
    "sgd": (optim.SGD, torch.optim.SGD, {"lr": 0.1}),
    "sgd-momentum-dampening-wd": (optim.SGD, torch.optim.SGD,
                                  {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    "sgd-nesterov-wd": (optim.SGD, torch.optim.SGD,
                        {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    "adam": (optim.Adam, torch.optim.Adam, {"lr": 1e-2}),
    "adam-wd-amsgrad": (optim.Adam, torch.optim.Adam, {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    "adam-decoupled": (optim.Adam, torch.optim.Adam, {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    # beta1 <= 0.5 takes torch.lerp's other formula
    "adam-small-betas": (optim.Adam, torch.optim.Adam, {"lr": 3e-2, "betas": (0.3, 0.8), "eps": 1e-3}),
    "adamw": (optim.AdamW, torch.optim.AdamW, {"lr": 1e-2}),
    "adamw-amsgrad": (optim.AdamW, torch.optim.AdamW, {"lr": 1e-2, "weight_decay": 0.3, "amsgrad": True}),
    "radam": (optim.RAdam, torch.optim.RAdam, {"lr": 1e-2}),
    "radam-wd": (optim.RAdam, torch.optim.RAdam, {"lr": 1e-2, "weight_decay": 0.1}),
    "radam-decoupled": (optim.RAdam, torch.optim.RAdam,
                        {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    "radam-short-memory": (optim.RAdam, torch.optim.RAdam, {"lr": 1e-2, "betas": (0.5, 0.9)}),
}


def rectified(betas: tuple[float, float], step: int) -> bool:
    """Whether RAdam's step ``step`` uses the adaptive (rectified) update: rho_t > 5."""
    beta2 = betas[1]
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * step * beta2**step / (1 - beta2**step) > 5


def test_radam_cases_cover_both_branches() -> None:
    for name, (cls, _, kwargs) in CASES.items():
        if cls is optim.RAdam:
            branches = {rectified(kwargs.get("betas", (0.9, 0.999)), step) for step in range(1, STEPS + 1)}
            assert branches == {False, True}, name


@pytest.mark.parametrize("case", CASES)
def test_steps_match_torch(case: str, rng: np.random.Generator) -> None:
    cls, torch_cls, kwargs = CASES[case]
    params, tensors = make_params(rng)
    ours = cls(two_groups(params, kwargs), **kwargs)
    theirs = torch_cls(two_groups(tensors, kwargs), foreach=False, **kwargs)
    arrays = [p.data for p in params]
    # Rounding errors scale with the terms summed, not with a parameter that crosses zero (a single
    # element can), so errors are measured against the larger of its current and initial norms.
    # Bit equality is out of reach: torch fuses a + alpha * b and lerp into FMAs and its float32
    # sqrt is off by 1 ulp for some inputs on AVX-512 CPUs; NumPy rounds each operation exactly.
    scales = [float(np.linalg.norm(p.data)) for p in params]
    for step in range(STEPS):
        set_grads(rng, step, params, tensors)
        ours.step()
        theirs.step()
        for i, (p, t) in enumerate(zip(params, tensors)):
            err = relative_error(p.data, t.detach().double().numpy(), scales[i])
            assert err <= 1e-6, f"{case}: step {step}, parameter {i}: relative error {err:.2e}"
    assert all(p.data is a for p, a in zip(params, arrays)), "parameters must be updated in place"
    assert_state_matches_torch(ours.state_dict(), theirs.state_dict())


def assert_state_matches_torch(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """Same parameter indices per group, same state entries by torch's names, close buffers."""
    assert [g["params"] for g in ours["param_groups"]] == [g["params"] for g in theirs["param_groups"]]
    for ours_group, their_group in zip(ours["param_groups"], theirs["param_groups"]):
        assert ours_group["lr"] == their_group["lr"]
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for index, buffers in theirs["state"].items():
        assert set(ours["state"][index]) == set(buffers)
        for name, value in buffers.items():
            if name == "step":
                assert ours["state"][index][name] == int(value.item())
            else:  # the gradients are N(0, 1): the buffers' natural norm is sqrt(size), whatever their value
                error = relative_error(ours["state"][index][name], value.double().numpy(), np.sqrt(value.numel()))
                assert error <= 1e-6, (index, name)


def clone_params(params: list[Parameter]) -> list[Parameter]:
    clones = [Parameter(p.data.copy()) for p in params]
    for c, p in zip(clones, params):
        c.grad = None if p.grad is None else p.grad.copy()
    return clones


def lookahead_adam(params: list[Parameter]) -> optim.Lookahead:
    return optim.Lookahead(optim.Adam(params, lr=1e-2, amsgrad=True), k=3, alpha=0.4)


ROUND_TRIP_FACTORIES: dict[str, Callable[[list[Parameter]], Any]] = {
    "sgd-momentum": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam-amsgrad": lambda ps: optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=0.1),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-2),
    "radam": lambda ps: optim.RAdam(ps, lr=1e-2, decoupled_weight_decay=True, weight_decay=0.1),
    "lookahead-adam": lookahead_adam,
}


@pytest.mark.parametrize("name", ROUND_TRIP_FACTORIES)
@pytest.mark.parametrize("through_file", [False, True])
def test_state_dict_round_trip_continues_identically(name: str, through_file: bool, rng: np.random.Generator,
                                                     tmp_path: Any) -> None:
    factory = ROUND_TRIP_FACTORIES[name]
    params, tensors = make_params(rng)
    original = factory(params)
    for step in range(7):  # not a multiple of Lookahead's k, and RAdam still unrectified
        set_grads(rng, step, params, tensors)
        original.step()
    state = original.state_dict()
    if through_file:
        save(original, tmp_path / "optimizer.safetensors")
        state = load(tmp_path / "optimizer.safetensors")
    copies = clone_params(params)
    restored = factory(copies)
    restored.load_state_dict(state)
    for step in range(7, 20):
        set_grads(rng, step, params, tensors)
        for p, c in zip(params, copies):
            c.grad = None if p.grad is None else p.grad.copy()
        original.step()
        restored.step()
        for p, c in zip(params, copies):
            np.testing.assert_array_equal(c.data, p.data, err_msg=f"{name}: step {step}")


def test_zero_grad_drops_gradients(rng: np.random.Generator) -> None:
    params, tensors = make_params(rng)
    opt = optim.Lookahead(optim.SGD(params, lr=0.1))
    set_grads(rng, 0, params, tensors)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_sgd_without_momentum_keeps_no_state(rng: np.random.Generator) -> None:
    params, tensors = make_params(rng)
    opt = optim.SGD(params, lr=0.1)
    set_grads(rng, 0, params, tensors)
    opt.step()
    assert opt.state_dict()["state"] == {}


# ---------------------------------------------------------------------------------------------- Lookahead
def test_lookahead_matches_float64_reference(rng: np.random.Generator) -> None:
    lr, momentum, k, alpha = 0.05, 0.9, 3, 0.4
    start = rng.standard_normal((4, 6)).astype(np.float32)
    grads = rng.standard_normal((14, 4, 6)).astype(np.float32)
    param = Parameter(start.copy())
    opt = optim.Lookahead(optim.SGD([param], lr=lr, momentum=momentum), k=k, alpha=alpha)
    fast, slow, buf = start.astype(np.float64), start.astype(np.float64), None
    for step, grad in enumerate(grads, start=1):
        param.grad = grad.copy()
        opt.step()
        buf = grad.astype(np.float64) if buf is None else momentum * buf + grad
        fast = fast - lr * buf
        if step % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow.copy()
        err = relative_error(param.data, fast)
        assert err <= 1e-6, f"step {step}: relative error {err:.2e}"
    np.testing.assert_allclose(opt.slow_weights[param], slow, rtol=1e-5, atol=1e-6)


def test_scheduler_drives_the_lr_inside_lookahead(rng: np.random.Generator) -> None:
    params, _ = make_params(rng)
    inner = optim.Adam(params, lr=1e-2)
    scheduler = optim.ReduceLROnPlateau(optim.Lookahead(inner), patience=0, factor=0.5)
    scheduler.step(1.0)
    scheduler.step(2.0)
    assert inner.param_groups[0]["lr"] == pytest.approx(5e-3)


# ---------------------------------------------------------------------------------------------- ReduceLROnPlateau
PLATEAU_CASES = {
    "defaults": {},
    "min-rel-patience2": {"factor": 0.5, "patience": 2, "threshold": 0.05},
    "min-abs-cooldown": {"factor": 0.3, "patience": 1, "threshold": 0.01, "threshold_mode": "abs", "cooldown": 3},
    "max-rel-min-lr": {"mode": "max", "factor": 0.2, "patience": 1, "min_lr": 1e-3},
    "max-abs-two-floors": {"mode": "max", "threshold_mode": "abs", "patience": 0, "min_lr": [1e-2, 1e-4]},
    "large-eps": {"factor": 0.9, "patience": 0, "eps": 0.05},
}


def plateau_metrics(rng: np.random.Generator) -> list[float]:
    """A curve that falls, stalls (never below its best) for 30 epochs, falls again and wobbles
    around its level, with a NaN (never an improvement)."""
    falling = 5.0 - np.cumsum(rng.random(15) * 0.2)
    stall = falling[-1] + np.abs(rng.standard_normal(30)) * 0.01
    falling_again = falling[-1] - np.cumsum(rng.random(10) * 0.1)
    wobble = falling_again[-1] + rng.standard_normal(25) * 0.02
    metrics = [float(m) for m in np.concatenate([falling, stall, falling_again, wobble])]
    metrics[40] = float("nan")
    return metrics


@pytest.mark.parametrize("case", PLATEAU_CASES)
def test_plateau_lr_sequence_matches_torch(case: str, rng: np.random.Generator) -> None:
    kwargs = PLATEAU_CASES[case]
    params, _ = make_params(rng)
    ours = optim.ReduceLROnPlateau(optim.SGD([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}], lr=1.0),
                                   **kwargs)
    torch_opt = torch.optim.SGD([{"params": [torch.zeros(1)]}, {"params": [torch.zeros(1)], "lr": 0.5}], lr=1.0)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(torch_opt, **kwargs)
    lrs = []
    for metric in plateau_metrics(rng):
        ours.step(metric)
        theirs.step(metric)
        lrs.append(ours.get_last_lr())
        assert ours.get_last_lr() == theirs.get_last_lr(), f"{case}: after {len(lrs)} steps"
        assert (ours.num_bad_epochs, ours.cooldown_counter) == (theirs.num_bad_epochs, theirs.cooldown_counter)
    assert lrs[-1] != lrs[0], "the metric sequence must trigger reductions"


def test_plateau_state_dict_round_trip(rng: np.random.Generator, tmp_path: Any) -> None:
    metrics = plateau_metrics(rng)
    make = lambda: optim.ReduceLROnPlateau(optim.SGD(make_params(rng)[0], lr=1.0),
                                           factor=0.5, patience=1, cooldown=2)
    original, restored = make(), make()
    for metric in metrics[:20]:
        original.step(metric)
    save(original, tmp_path / "scheduler.safetensors")
    restored.load_state_dict(load(tmp_path / "scheduler.safetensors"))
    for param_group, saved_group in zip(restored.optimizer.param_groups, original.optimizer.param_groups):
        param_group["lr"] = saved_group["lr"]  # the optimizer's own state_dict carries the lr
    for metric in metrics[20:]:
        original.step(metric)
        restored.step(metric)
        assert restored.get_last_lr() == original.get_last_lr()
        assert restored.state_dict() == original.state_dict()


# ---------------------------------------------------------------------------------------------- clipping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type: Any, max_norm: float, rng: np.random.Generator) -> None:
    params, tensors = make_params(rng)
    set_grads(rng, 4, params, tensors)  # parameter 1 has no gradient
    total = optim.clip_grad_norm_(params, max_norm, norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type, foreach=False)
    assert total == pytest.approx(float(their_total), rel=1e-6)
    for p, t in zip(params, tensors):
        if t.grad is None:
            assert p.grad is None
        else:
            assert relative_error(p.grad, t.grad.double().numpy()) <= 1e-6


def test_clip_grad_norm_edges(rng: np.random.Generator) -> None:
    params, tensors = make_params(rng)
    assert optim.clip_grad_norm_(params, 1.0) == 0.0  # no gradients at all
    set_grads(rng, 0, params, tensors)
    params[0].grad[0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite|nan"):
        optim.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="norm_type"):
        optim.clip_grad_norm_(params, 1.0, norm_type=0)
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm_(params, -1.0)


# ---------------------------------------------------------------------------------------------- errors
def one_param() -> list[Parameter]:
    return [Parameter(np.ones(3, np.float32))]


BAD_HYPERPARAMETERS: dict[str, tuple[Callable[[], Any], str]] = {
    "sgd-lr": (lambda: optim.SGD(one_param(), lr=-0.1), r"SGD: lr must be a number >= 0, got -0\.1"),
    "sgd-momentum": (lambda: optim.SGD(one_param(), lr=0.1, momentum=-1), "momentum"),
    "sgd-weight-decay": (lambda: optim.SGD(one_param(), lr=0.1, weight_decay=-1e-3), "weight_decay"),
    "sgd-nesterov": (lambda: optim.SGD(one_param(), lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    "sgd-group-lr": (lambda: optim.SGD([{"params": one_param(), "lr": -1}], lr=0.1), "lr"),
    "adam-beta1": (lambda: optim.Adam(one_param(), betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\)"),
    "adam-beta2": (lambda: optim.Adam(one_param(), betas=(0.9, -0.1)), r"betas\[1\]"),
    "adam-betas-shape": (lambda: optim.Adam(one_param(), betas=0.9), "betas must be a pair"),
    "adam-eps": (lambda: optim.Adam(one_param(), eps=-1e-8), "eps"),
    "adamw-weight-decay": (lambda: optim.AdamW(one_param(), weight_decay=-0.01), "AdamW: weight_decay"),
    "radam-lr-nan": (lambda: optim.RAdam(one_param(), lr=float("nan")), "RAdam: lr"),
    "lookahead-k": (lambda: optim.Lookahead(optim.SGD(one_param(), lr=0.1), k=0), "k must be an int >= 1"),
    "lookahead-alpha": (lambda: optim.Lookahead(optim.SGD(one_param(), lr=0.1), alpha=1.5),
                        r"alpha must be in \[0, 1\]"),
    "plateau-factor": (lambda: optim.ReduceLROnPlateau(optim.SGD(one_param(), lr=0.1), factor=1.0), "factor"),
    "plateau-mode": (lambda: optim.ReduceLROnPlateau(optim.SGD(one_param(), lr=0.1), mode="lowest"), "mode"),
    "plateau-threshold-mode": (lambda: optim.ReduceLROnPlateau(optim.SGD(one_param(), lr=0.1), threshold_mode="pct"),
                               "threshold_mode"),
    "plateau-patience": (lambda: optim.ReduceLROnPlateau(optim.SGD(one_param(), lr=0.1), patience=-1), "patience"),
    "plateau-min-lr-count": (lambda: optim.ReduceLROnPlateau(optim.SGD(one_param(), lr=0.1), min_lr=[0.0, 0.0]),
                             "min_lr has 2 entries"),
    "empty-params": (lambda: optim.Adam([]), "empty parameter list"),
    "duplicate-param": (lambda: optim.Adam(one_param() * 2), "appears twice"),
}


@pytest.mark.parametrize("case", BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise(case: str) -> None:
    factory, message = BAD_HYPERPARAMETERS[case]
    with pytest.raises(ValueError, match=message):
        factory()


def test_non_parameters_raise_type_error() -> None:
    with pytest.raises(TypeError, match="ictus.nn.Parameter"):
        optim.SGD([np.ones(3, np.float32)], lr=0.1)
    with pytest.raises(TypeError, match="Optimizer"):
        optim.Lookahead(object())
    with pytest.raises(TypeError, match="optimizer"):
        optim.ReduceLROnPlateau(object())


def test_load_state_dict_rejects_another_model(rng: np.random.Generator) -> None:
    params, tensors = make_params(rng)
    opt = optim.Adam(params)
    set_grads(rng, 0, params, tensors)
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": params[:1]}, {"params": params[1:]}]).load_state_dict(state)
    with pytest.raises(ValueError, match="shape"):
        optim.Adam([Parameter(np.ones(p.shape + (2,), np.float32)) for p in params]).load_state_dict(state)


def test_cupy_parameters_follow_numpy(cp: Any, rng: np.random.Generator) -> None:
    params, tensors = make_params(rng)
    on_gpu = [Parameter(cp.asarray(p.data)) for p in params]
    ours, gpu = optim.RAdam(params, lr=1e-2, weight_decay=0.1), optim.RAdam(on_gpu, lr=1e-2, weight_decay=0.1)
    for step in range(10):
        set_grads(rng, step, params, tensors)
        for p, g in zip(params, on_gpu):
            g.grad = None if p.grad is None else cp.asarray(p.grad)
        ours.step()
        gpu.step()
    assert optim.clip_grad_norm_(on_gpu, 0.1) == pytest.approx(optim.clip_grad_norm_(params, 0.1), rel=1e-6)
    for p, g in zip(params, on_gpu):
        assert relative_error(cp.asnumpy(g.data), p.data.astype(np.float64)) <= 1e-6
