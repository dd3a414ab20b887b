"""Optimizers, Lookahead, ReduceLROnPlateau and gradient clipping for ictus.nn Parameters.

The update rules are torch 2.13's single-tensor ones (``torch/optim/{sgd,adam,radam}.py``, not
``maximize``/``capturable``), written with the array module of each parameter (NumPy or CuPy), so
a float32 parameter follows torch's float32 trajectory to rounding. Parameters are updated in
place (``p.data`` keeps its identity, so layers and state dicts that hold it stay valid); those
whose ``grad`` is None are skipped, as in torch.

``param_groups`` is torch's: a list of dicts, each with ``"params"`` (a list of Parameters) and its
hyper-parameters; ``state`` maps a Parameter to its buffers (``"step"``, ``"exp_avg"``, ...). A
``state_dict()`` refers to parameters by their index in the order of the groups, as torch does, so
it can be saved with :func:`ictus.save` and loaded into a fresh optimizer over the same model.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .nn.module import Parameter, array_module

__all__ = ["SGD", "Adam", "AdamW", "Lookahead", "Optimizer", "RAdam", "ReduceLROnPlateau", "clip_grad_norm_"]


# ---------------------------------------------------------------------------------------------- checks
def _check_number(owner: str, name: str, value: Any, *, low: float = 0.0, high: float | None = None,
                  high_included: bool = False) -> float:
    """``value`` as a float in [low, high) (or [low, high]; high None: no upper bound), else ValueError."""
    is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    below_high = high is None or value < high or (high_included and value == high)
    if not (is_number and value >= low and below_high):  # also refuses NaN
        bound = f"in [{low:g}, {high:g}{']' if high_included else ')'}" if high is not None else f"a number >= {low:g}"
        raise ValueError(f"{owner}: {name} must be {bound}, got {value!r}")
    return float(value)


def _check_betas(owner: str, betas: Any) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {betas!r}")
    return (_check_number(owner, "betas[0]", betas[0], high=1.0), _check_number(owner, "betas[1]", betas[1], high=1.0))


def _check_count(owner: str, name: str, value: Any, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{owner}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or type(value).__module__.split(".")[0] == "cupy"


def _copy_like(value: Any, like: Any, what: str) -> Any:
    """A copy of array ``value`` on ``like``'s device with ``like``'s dtype (a loaded state buffer)."""
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(f"load_state_dict: {what} has shape {tuple(value.shape)}, its parameter has shape "
                         f"{tuple(like.shape)}; was the state saved from another model?")
    xp = array_module(like)
    if xp is np and not isinstance(value, np.ndarray):
        value = value.get()
    return xp.array(value, dtype=like.dtype, copy=True)


def _parameter_index(param_groups: list[dict[str, Any]]) -> dict[Parameter, int]:
    """Each parameter's index in a state_dict: its first position in the groups, in order (torch's)."""
    index: dict[Parameter, int] = {}
    for group in param_groups:
        for p in group["params"]:
            index.setdefault(p, len(index))
    return index


def _params_by_saved_index(own_groups: list[dict[str, Any]], saved_groups: list[dict[str, Any]],
                           owner: str) -> dict[int, Parameter]:
    """Matches a state_dict's parameter indices to this optimizer's parameters, group by group."""
    if len(saved_groups) != len(own_groups):
        raise ValueError(f"{owner}.load_state_dict: the state has {len(saved_groups)} parameter groups, this "
                         f"optimizer has {len(own_groups)}")
    mapping: dict[int, Parameter] = {}
    for i, (own, saved) in enumerate(zip(own_groups, saved_groups)):
        if len(own["params"]) != len(saved["params"]):
            raise ValueError(f"{owner}.load_state_dict: parameter group {i} has {len(saved['params'])} parameters "
                             f"in the state, {len(own['params'])} here")
        mapping.update(zip((int(k) for k in saved["params"]), own["params"]))
    return mapping


# ---------------------------------------------------------------------------------------------- base
class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad and torch-style state dicts.

    Subclasses define ``_check(group)`` (validates and normalises a group's hyper-parameters) and
    ``_update(p, state, group)`` (one step of one parameter whose grad is set).
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Parameter, dict[str, Any]] = {}
        groups = [params] if isinstance(params, Parameter) else list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list; pass model.parameters()")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Adds a group: ``{"params": [...], <hyper-parameter>: value}``, the rest from the defaults."""
        owner = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{owner}: a parameter group must be a dict with a 'params' entry, got {group!r}")
        params = [group["params"]] if isinstance(group["params"], Parameter) else list(group["params"])
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"{owner}: params must be ictus.nn.Parameter objects, got {type(p).__name__}; "
                                "pass model.parameters()")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in taken for p in params):
            raise ValueError(f"{owner}: a parameter appears twice (in one group or in two groups)")
        filled = {**self.defaults, **group, "params": params}
        self._check(filled)
        self.param_groups.append(filled)

    def _check(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update(self, p: Parameter, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def step(self) -> None:
        """Updates every parameter that has a gradient, in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p, {})
                self._update(p, state, group)
                if state:
                    self.state[p] = state

    def zero_grad(self) -> None:
        """Drops the gradients (``grad = None``, torch's default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: buffers}, "param_groups": [{..., "params": [indices]}]}`` (references)."""
        index = _parameter_index(self.param_groups)
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[p] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": {index[p]: dict(s) for p, s in self.state.items() if p in index}, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores hyper-parameters and buffers (copied onto each parameter's device) from a state_dict."""
        owner = type(self).__name__
        by_index = _params_by_saved_index(self.param_groups, state_dict["param_groups"], owner)
        groups = [{**saved, "params": own["params"]}
                  for own, saved in zip(self.param_groups, state_dict["param_groups"])]
        for group in groups:
            self._check(group)
        state: dict[Parameter, dict[str, Any]] = {}
        for key, buffers in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"{owner}.load_state_dict: the state refers to parameter {key}, which no group has")
            p = by_index[int(key)]
            state[p] = {name: _copy_like(v, p.data, f"state[{key}][{name!r}]") if _is_array(v) else v
                        for name, v in buffers.items()}
        self.param_groups = groups
        self.state = state

    def __repr__(self) -> str:
        groups = ", ".join(f"group {i}: {len(g['params'])} params, lr={g['lr']:g}"
                           for i, g in enumerate(self.param_groups))
        return f"{type(self).__name__}({groups})"


def _decayed_gradient(p: Parameter, group: dict[str, Any]) -> Any:
    """The gradient with L2 weight decay added, or the parameter shrunk first (decoupled, AdamW)."""
    weight_decay = group["weight_decay"]
    if weight_decay == 0:
        return p.grad
    if group.get("decoupled_weight_decay", False):
        p.data *= 1 - group["lr"] * weight_decay
        return p.grad
    return p.grad + weight_decay * p.data


def _lerp_(start: Any, end: Any, weight: float) -> None:
    """``start += weight * (end - start)`` in place, with torch.lerp's two formulas (the same rounding)."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def _update_moments(p: Parameter, state: dict[str, Any], group: dict[str, Any]) -> tuple[Any, Any, int]:
    """Adam's and RAdam's shared start: step count, weight decay, both moving averages."""
    xp = array_module(p.data)
    if not state:
        state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
    state["step"] += 1
    beta1, beta2 = group["betas"]
    grad = _decayed_gradient(p, group)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    _lerp_(exp_avg, grad, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    return exp_avg, exp_avg_sq, state["step"]


# ---------------------------------------------------------------------------------------------- optimizers
class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, dampening and L2 weight decay."""

    def __init__(self, params: Iterable[Parameter] | Iterable[dict[str, Any]], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check(self, group: dict[str, Any]) -> None:
        for name in ("lr", "momentum", "dampening", "weight_decay"):
            group[name] = _check_number("SGD", name, group[name])
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']:g}, dampening={group['dampening']:g}")

    def _update(self, p: Parameter, state: dict[str, Any], group: dict[str, Any]) -> None:
        grad = _decayed_gradient(p, group)
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data += -group["lr"] * grad


class _AdamFamily(Optimizer):
    """Validation shared by Adam, AdamW and RAdam."""

    def _check(self, group: dict[str, Any]) -> None:
        owner = type(self).__name__
        for name in ("lr", "eps", "weight_decay"):
            group[name] = _check_number(owner, name, group[name])
        group["betas"] = _check_betas(owner, group["betas"])
        group["decoupled_weight_decay"] = bool(group["decoupled_weight_decay"])


class Adam(_AdamFamily):
    """Adam (Kingma & Ba), with optional AMSGrad and L2 or decoupled weight decay."""

    def __init__(self, params: Iterable[Parameter] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "decoupled_weight_decay": decoupled_weight_decay})

    def _check(self, group: dict[str, Any]) -> None:
        super()._check(group)
        group["amsgrad"] = bool(group["amsgrad"])

    def _update(self, p: Parameter, state: dict[str, Any], group: dict[str, Any]) -> None:
        exp_avg, exp_avg_sq, step = _update_moments(p, state, group)
        beta1, beta2 = group["betas"]
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            xp = array_module(p.data)
            max_exp_avg_sq = state.setdefault("max_exp_avg_sq", xp.zeros_like(p.data))
            xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            exp_avg_sq = max_exp_avg_sq
        denom = array_module(p.data).sqrt(exp_avg_sq) / bias_correction2_sqrt + group["eps"]
        p.data += -(group["lr"] / bias_correction1) * exp_avg / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * weight_decay`` each step."""

    def __init__(self, params: Iterable[Parameter] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)


class RAdam(_AdamFamily):
    """Rectified Adam (Liu et al. 2019): SGD with momentum until the variance estimate is reliable
    (the approximated SMA length rho_t exceeds 5, after about 5 steps with beta2 = 0.999), then Adam
    scaled by the rectification term."""

    def __init__(self, params: Iterable[Parameter] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _update(self, p: Parameter, state: dict[str, Any], group: dict[str, Any]) -> None:
        exp_avg, exp_avg_sq, step = _update_moments(p, state, group)
        beta1, beta2 = group["betas"]
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        bias_corrected_exp_avg = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive_lr = bias_correction2**0.5 / (array_module(p.data).sqrt(exp_avg_sq) + group["eps"])
            p.data += -(bias_corrected_exp_avg * group["lr"] * adaptive_lr * rect)
        else:
            p.data += -(bias_corrected_exp_avg * group["lr"])


# ---------------------------------------------------------------------------------------------- wrappers
class Lookahead:
    """Lookahead (Zhang et al. 2019) around another optimizer: it takes k fast steps, then moves the
    slow weights towards the fast ones, ``slow += alpha * (fast - slow)``, and restarts from them
    (``fast = slow``). The slow weights start as the parameters before the first step.

    ``param_groups``, ``state`` and ``defaults`` are the inner optimizer's, so a scheduler that sets
    ``param_groups[i]["lr"]`` drives the inner learning rate.
    """

    def __init__(self, optimizer: Optimizer, k: int = 5, alpha: float = 0.5) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Lookahead: optimizer must be an ictus.optim.Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.k = _check_count("Lookahead", "k", k, low=1)
        self.alpha = _check_number("Lookahead", "alpha", alpha, high=1.0, high_included=True)
        self.fast_steps = 0
        self.slow_weights: dict[Parameter, Any] = {}

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    @property
    def state(self) -> dict[Parameter, dict[str, Any]]:
        return self.optimizer.state

    @property
    def defaults(self) -> dict[str, Any]:
        return self.optimizer.defaults

    def _params(self) -> Iterator[Parameter]:
        yield from _parameter_index(self.param_groups)

    def step(self) -> None:
        """One fast step; every k-th also synchronises slow and fast weights."""
        for p in self._params():
            if p not in self.slow_weights:
                self.slow_weights[p] = p.data.copy()
        self.optimizer.step()
        self.fast_steps += 1
        if self.fast_steps % self.k == 0:
            for p, slow in self.slow_weights.items():
                slow += self.alpha * (p.data - slow)
                p.data[...] = slow

    def zero_grad(self) -> None:
        self.optimizer.zero_grad()

    def state_dict(self) -> dict[str, Any]:
        """The inner optimizer's state_dict, the slow weights by parameter index, the step count, k, alpha."""
        index = _parameter_index(self.param_groups)
        return {"optimizer": self.optimizer.state_dict(), "fast_steps": self.fast_steps, "k": self.k,
                "alpha": self.alpha, "slow_weights": {index[p]: w for p, w in self.slow_weights.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state_dict["optimizer"])
        params = list(self._params())
        slow_weights = {}
        for key, weights in state_dict["slow_weights"].items():
            if not 0 <= int(key) < len(params):
                raise ValueError(f"Lookahead.load_state_dict: slow weights for parameter {key}, which no group has")
            p = params[int(key)]
            slow_weights[p] = _copy_like(weights, p.data, f"slow_weights[{key}]")
        self.k = _check_count("Lookahead", "k", state_dict["k"], low=1)
        self.alpha = _check_number("Lookahead", "alpha", state_dict["alpha"], high=1.0, high_included=True)
        self.fast_steps = _check_count("Lookahead", "fast_steps", state_dict["fast_steps"], low=0)
        self.slow_weights = slow_weights

    def __repr__(self) -> str:
        return f"Lookahead({self.optimizer!r}, k={self.k}, alpha={self.alpha:g})"


class ReduceLROnPlateau:
    """Multiplies each group's lr by ``factor`` (not below ``min_lr``) when the metric passed to
    ``step`` has not improved for more than ``patience`` epochs, then waits ``cooldown`` epochs.
    torch's rules: "rel" compares with ``best * (1 -/+ threshold)``, "abs" with ``best -/+ threshold``;
    an lr changes only if it moves by more than ``eps``."""

    def __init__(self, optimizer: Optimizer | Lookahead, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | list[float] = 0.0, eps: float = 1e-8) -> None:
        if not isinstance(optimizer, (Optimizer, Lookahead)):
            raise TypeError(f"ReduceLROnPlateau: optimizer must be an ictus.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * groups
        if len(min_lrs) != groups:
            raise ValueError(f"ReduceLROnPlateau: min_lr has {len(min_lrs)} entries, the optimizer has {groups} "
                             "parameter groups")
        self._configure({"mode": mode, "factor": factor, "patience": patience, "threshold": threshold,
                         "threshold_mode": threshold_mode, "cooldown": cooldown, "min_lrs": min_lrs, "eps": eps})
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _configure(self, config: dict[str, Any]) -> None:
        owner = "ReduceLROnPlateau"
        if config["mode"] not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {config['mode']!r}")
        if config["threshold_mode"] not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {config['threshold_mode']!r}")
        self.mode, self.threshold_mode = config["mode"], config["threshold_mode"]
        self.factor = _check_number(owner, "factor", config["factor"], high=1.0)
        self.patience = _check_count(owner, "patience", config["patience"], low=0)
        self.cooldown = _check_count(owner, "cooldown", config["cooldown"], low=0)
        self.threshold = _check_number(owner, "threshold", config["threshold"])
        self.eps = _check_number(owner, "eps", config["eps"])
        self.min_lrs = [_check_number(owner, f"min_lr[{i}]", v) for i, v in enumerate(config["min_lrs"])]

    def _is_better(self, value: float) -> bool:
        margin = self.threshold if self.mode == "max" else -self.threshold  # towards an improvement
        bound = self.best * (1 + margin) if self.threshold_mode == "rel" else self.best + margin
        return value > bound if self.mode == "max" else value < bound

    def step(self, metric: float) -> None:
        """Records one epoch's metric and lowers the learning rates if it has plateaued."""
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
                new_lr = max(float(group["lr"]) * self.factor, min_lr)
                if float(group["lr"]) - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    _STATE = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lrs", "eps", "best",
              "num_bad_epochs", "cooldown_counter", "last_epoch")

    def state_dict(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in self._STATE}, "last_lr": list(self._last_lr)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        missing = [name for name in (*self._STATE, "last_lr") if name not in state_dict]
        if missing:
            raise ValueError(f"ReduceLROnPlateau.load_state_dict: the state lacks {missing}")
        self._configure(state_dict)
        self.best = float(state_dict["best"])
        self.num_bad_epochs = int(state_dict["num_bad_epochs"])
        self.cooldown_counter = int(state_dict["cooldown_counter"])
        self.last_epoch = int(state_dict["last_epoch"])
        self._last_lr = list(state_dict["last_lr"])


# ---------------------------------------------------------------------------------------------- clipping
def clip_grad_norm_(parameters: Parameter | Iterable[Parameter], max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scales all gradients in place so their joint ``norm_type``-norm is at most ``max_norm``
    (torch's rule: by ``min(1, max_norm / (total + 1e-6))``) and returns the norm before clipping.
    ``norm_type`` may be ``inf`` (or ``"inf"``) for the largest absolute value. Norms are summed in
    float64."""
    params = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    max_norm = _check_number("clip_grad_norm_", "max_norm", max_norm)
    order = float(norm_type)
    if not order > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type!r}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    xp = array_module(grads[0])
    norms = xp.stack([xp.linalg.norm(g.ravel().astype(xp.float64), ord=order) for g in grads])
    total = float(xp.linalg.norm(norms, ord=order))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {order:g} of the gradients is {total}, so "
                           "they cannot be clipped; pass error_if_nonfinite=False to scale them anyway")
    scale = min(max_norm / (total + 1e-6), 1.0)  # NaN when total is NaN, as in torch
    for g in grads:
        g *= scale
    return total
