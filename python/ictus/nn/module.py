"""Parameter and Module: the base of ictus.nn's layers, with torch.nn's names and habits.

A Module holds Parameters (``.data``: a float32 NumPy or CuPy array; ``.grad``: its accumulated
gradient or None), buffers (running statistics) and child Modules, registered in the order they are
assigned, so ``named_parameters()`` and ``state_dict()`` give torch's names in torch's order.

Training runs by hand, as in the layer-wise frameworks this mirrors: ``y = model(x)`` then
``grad_x = model.backward(grad_y)``. In training mode each ``forward`` pushes what its backward
needs onto the module's stack (``_save``) and each ``backward`` pops it (``_saved``), so a module
called twice in one pass (shared weights) gets its two backward calls in reverse order, as in
autograd. In eval mode forward keeps nothing and backward says so.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np


def array_module(x: Any) -> Any:
    """numpy for NumPy arrays, cupy for CuPy arrays."""
    if type(x).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def _on_device(a: Any, device: str) -> Any:
    if device == "cpu":
        return a if isinstance(a, np.ndarray) else a.get()
    import cupy

    return cupy.asarray(a)


class Parameter:
    """A trainable float32 array (``data``) and the gradient accumulated into it (``grad``)."""

    __slots__ = ("data", "grad")

    def __init__(self, data: Any) -> None:
        xp = array_module(data)
        self.data = xp.ascontiguousarray(data, dtype=xp.float32)
        self.grad: Any = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    def accumulate(self, grad: Any) -> None:
        """Adds ``grad`` (same shape as ``data``) to ``self.grad``, as autograd does across calls."""
        if grad.shape != self.data.shape:
            raise ValueError(f"Parameter.accumulate: gradient shape {tuple(grad.shape)} != parameter shape "
                             f"{self.shape}")
        if self.grad is None:
            self.grad = grad.astype(self.data.dtype, copy=True)
        else:
            self.grad += grad  # in place, in the parameter's dtype (our own copy since the first call)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, grad={'None' if self.grad is None else 'set'})"


class Module:
    """Base class of the layers: forward, backward, parameters, modes, state_dict and devices."""

    training: bool
    # What Sequential may reorder: an element-wise non-decreasing f directly before a max-pool runs
    # after it, on k times fewer values, since max(f(x)) = f(max(x)) (gradients too: f' at the maximum).
    non_decreasing: bool = False
    takes_maximum: bool = False

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_stack", [])
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: Any) -> None:
        """A non-trainable array saved in the state_dict (running statistics, counters)."""
        self.__setattr__(name, value)
        self._buffers[name] = value

    def _set_buffer(self, name: str, value: Any) -> None:
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ calls
    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_out: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def _save(self, *items: Any) -> None:
        """Keeps what backward needs (training mode only; call from forward)."""
        if self.training:
            self._stack.append(items)

    def _saved(self) -> tuple[Any, ...]:
        """What the matching forward kept (call from backward)."""
        if not self._stack:
            mode = "training" if self.training else "eval"
            raise RuntimeError(f"{type(self).__name__}.backward: no forward pass to differentiate (the module is in "
                               f"{mode} mode; call model.train() and run forward before backward, once per backward)")
        return self._stack.pop()

    # ------------------------------------------------------------------ traversal
    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for path, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                yield (f"{path}.{name}" if path else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        for path, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                yield (f"{path}.{name}" if path else name), b

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout on, batch statistics, forward keeps what backward needs)."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
            if not mode:
                m._stack.clear()
        return self

    def eval(self) -> Module:
        """Inference mode: ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Drops every parameter gradient (``grad = None``, as torch's default)."""
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict[str, Any]:
        """Parameters and buffers by torch's names (the arrays themselves, not copies)."""
        state: OrderedDict[str, Any] = OrderedDict()
        for path, m in self.named_modules():
            for name, p in m._parameters.items():
                state[f"{path}.{name}" if path else name] = p.data
            for name, b in m._buffers.items():
                state[f"{path}.{name}" if path else name] = b
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copies arrays from ``state`` (ours or a torch state_dict as NumPy arrays) into this module."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                           "pass strict=False to load the keys both have")
        for path, m in self.named_modules():
            for table, is_param in ((m._parameters, True), (m._buffers, False)):
                for name, entry in list(table.items()):
                    current = entry.data if is_param else entry
                    key = f"{path}.{name}" if path else name
                    if key not in state:
                        continue
                    value = state[key]
                    value = value.detach().cpu().numpy() if hasattr(value, "detach") else value
                    xp = array_module(current)
                    value = xp.asarray(_on_device(value, "cpu") if xp is np else value)
                    if tuple(value.shape) != tuple(current.shape):
                        raise ValueError(f"load_state_dict: {key} has shape {tuple(value.shape)}, this module "
                                         f"expects {tuple(current.shape)}")
                    value = xp.array(value, dtype=current.dtype, copy=True)
                    if is_param:
                        table[name].data = value
                    else:
                        m._set_buffer(name, value)

    def to(self, device: str) -> Module:
        """Moves parameters, gradients and buffers to "cpu" (NumPy) or "cuda" (CuPy) in place."""
        if device not in ("cpu", "cuda"):
            raise ValueError(f"{type(self).__name__}.to: device must be 'cpu' or 'cuda', got {device!r}")
        for m in self.modules():
            for p in m._parameters.values():
                p.data = _on_device(p.data, device)
                p.grad = None if p.grad is None else _on_device(p.grad, device)
            for name, b in list(m._buffers.items()):
                m._set_buffer(name, _on_device(b, device))
            m._stack.clear()
        return self

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse. Children are named "0", "1", ...

    One reordering, exact in value: a non-decreasing element-wise activation (ELU, ReLU, Tanh,
    Sigmoid) directly followed by a max-pool runs after the pool, on the pooled values
    (max f(x) = f(max x)): the beat tracker's front end computes a third of the ELUs. Where f
    rounds distinct inputs to one value (ELU below about -10), the gradient may reach another of
    the tied inputs than torch's, with the same value.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not an ictus.nn.Module")
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def _run_order(self) -> list[Module]:
        order = list(self._modules.values())
        i = 0
        while i + 1 < len(order):
            if order[i].non_decreasing and order[i + 1].takes_maximum:
                order[i], order[i + 1] = order[i + 1], order[i]
                i += 2
            else:
                i += 1
        return order

    def forward(self, x: Any) -> Any:
        order = self._run_order()
        self._save(order)  # backward runs the same order in reverse
        for m in order:
            x = m(x)
        return x

    def backward(self, grad_out: Any) -> Any:
        (order,) = self._saved()
        for m in reversed(order):
            if grad_out is None:
                raise RuntimeError(f"Sequential: the layer after {type(m).__name__} returned no input gradient "
                                   "(input_grad=False); only a network's first layer may skip it")
            grad_out = m.backward(grad_out)
        return grad_out
