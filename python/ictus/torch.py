"""Drop-in torch.nn modules whose forward and backward passes run ictus kernels.

``Conv1d``, ``Conv2d``, ``MaxPool1d``, ``MaxPool2d``, ``GRU`` and ``ELU`` subclass the torch.nn modules
of the same name: same constructor, parameters and state_dict. A call that ictus supports (float32,
batched input, on the CPU, or on a GPU with CuPy installed) runs through a
``torch.autograd.Function`` over ictus' kernels, sharing memory with the tensors (DLPack, no
copies of contiguous inputs); any other call (groups, padding modes other than zeros, float64,
projections, ...) runs torch's own forward. ``patch(model)`` swaps every supported submodule of a
model in place and says what it swapped and what it left.

Importing this module needs torch; ictus itself never imports torch.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import rnn as rnn_utils

import ictus

__all__ = ["ELU", "GRU", "Conv1d", "Conv2d", "MaxPool1d", "MaxPool2d", "PatchReport", "patch"]


# ------------------------------------------------------------------------- tensors <-> arrays


def _cuda_usable() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return bool(ictus.cuda.is_compiled() and ictus.cuda.is_available())


def _device_ok(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" or (t.device.type == "cuda" and _cuda_usable())


def _array(t: torch.Tensor | None) -> Any:
    """The tensor's memory as a NumPy (CPU) or CuPy (GPU) array, without a copy."""
    if t is None:
        return None
    t = t.detach()
    if t.device.type == "cpu":
        return t.numpy()
    import cupy

    return cupy.from_dlpack(t)


def _tensor(a: Any) -> torch.Tensor | None:
    if a is None:
        return None
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a)
    return torch.from_dlpack(a)


@contextlib.contextmanager
def _stream_of(t: torch.Tensor) -> Iterator[None]:
    """On a GPU, runs ictus (which follows CuPy's current stream) on torch's current stream."""
    if t.device.type != "cuda":
        yield
        return
    import cupy

    stream = torch.cuda.current_stream(t.device)
    with cupy.cuda.Device(t.device.index), cupy.cuda.ExternalStream(stream.cuda_stream):
        yield


# ------------------------------------------------------------------------- autograd functions


class _ConvFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dims: int,
                stride: Any, padding: Any, dilation: Any) -> torch.Tensor:
        conv = ictus.conv1d if dims == 1 else ictus.conv2d
        with _stream_of(x):
            y = conv(_array(x), _array(weight), _array(bias), stride=stride, padding=padding, dilation=dilation)
        ctx.save_for_backward(x, weight)
        ctx.geometry = (dims, stride, padding, dilation, bias is not None)
        return _tensor(y)

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[Any, ...]:
        x, weight = ctx.saved_tensors
        dims, stride, padding, dilation, has_bias = ctx.geometry
        backward = ictus.conv1d_backward if dims == 1 else ictus.conv2d_backward
        with _stream_of(x):
            gx, gw, gb = backward(_array(grad_y.contiguous()), _array(x), _array(weight), stride=stride,
                                  padding=padding, dilation=dilation, bias=has_bias,
                                  input_grad=bool(ctx.needs_input_grad[0]))
        return _tensor(gx), _tensor(gw), _tensor(gb), None, None, None, None


class _MaxPoolFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dims: int, window: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        pool = ictus.max_pool1d if dims == 1 else ictus.max_pool2d
        with _stream_of(x):
            y, idx = pool(_array(x), return_indices=True, **window)
        y_t, idx_t = _tensor(y), _tensor(idx)
        ctx.save_for_backward(idx_t)
        ctx.dims, ctx.window, ctx.input_shape = dims, window, tuple(x.shape)
        ctx.mark_non_differentiable(idx_t)
        return y_t, idx_t

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor, grad_idx: Any) -> tuple[Any, ...]:
        (idx,) = ctx.saved_tensors
        backward = ictus.max_pool1d_backward if ctx.dims == 1 else ictus.max_pool2d_backward
        window = {k: v for k, v in ctx.window.items() if k != "ceil_mode"}
        with _stream_of(grad_y):
            gx = backward(_array(grad_y.contiguous()), _array(idx), ctx.input_shape, **window)
        return _tensor(gx), None, None


class _GRULayerFunction(torch.autograd.Function):
    """One direction of one layer: x (T, N, D) time-major -> (y, h_n)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, h0: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
                b_ih: torch.Tensor | None, b_hh: torch.Tensor | None, reverse: bool,
                lengths: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        training = any(ctx.needs_input_grad[:6])
        with _stream_of(x):
            out = ictus.gru(_array(x), _array(h0), _array(w_ih), _array(w_hh), _array(b_ih), _array(b_hh),
                            reverse=reverse, training=training, lengths=lengths)
        y, h_n = _tensor(out[0]), _tensor(out[1])
        if training:
            ctx.save_for_backward(x, h0, w_ih, w_hh, _tensor(out[2]))
        ctx.options = (reverse, lengths, b_ih is not None)
        return y, h_n

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor, grad_h_n: torch.Tensor) -> tuple[Any, ...]:
        x, h0, w_ih, w_hh, reserve = ctx.saved_tensors
        reverse, lengths, has_bias = ctx.options
        with _stream_of(x):
            grads = ictus.gru_backward(_array(grad_y.contiguous()), _array(grad_h_n.contiguous()), _array(x),
                                       _array(h0), _array(w_ih), _array(w_hh), _array(reserve), reverse=reverse,
                                       bias=has_bias, lengths=lengths)
        gx, gh0, gw_ih, gw_hh, gb_ih, gb_hh = (_tensor(g) for g in grads)
        return gx, gh0, gw_ih, gw_hh, gb_ih, gb_hh, None, None


class _EluFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: float, inplace: bool) -> torch.Tensor:
        with _stream_of(x):
            if inplace:
                x_array = _array(x)
                ictus.elu(x_array, alpha, out=x_array)  # the same array: ictus' in-place call
                ctx.mark_dirty(x)
                y = x
            else:
                y = _tensor(ictus.elu(_array(x), alpha))
        ctx.save_for_backward(y)  # the gradient comes from the output: y + alpha where y <= 0
        ctx.alpha = alpha
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: torch.Tensor) -> tuple[Any, ...]:
        (y,) = ctx.saved_tensors
        with _stream_of(grad_y):
            gx = ictus.elu_backward(_array(grad_y.contiguous()), _array(y), ctx.alpha)
        return _tensor(gx), None, None


# ------------------------------------------------------------------------- modules


def _float32_on_usable_device(*tensors: torch.Tensor | None) -> bool:
    present = [t for t in tensors if t is not None]
    return all(t.dtype == torch.float32 and _device_ok(t) and t.device == present[0].device for t in present)


def _conv_padding(padding: Any) -> Any:
    return padding if isinstance(padding, str) else tuple(padding)


class Conv1d(nn.Conv1d):
    """torch.nn.Conv1d through ictus.conv1d (groups 1, zero padding, float32, input (N, C, T))."""

    def ictus_supported(self, x: torch.Tensor) -> bool:
        return (self.groups == 1 and self.padding_mode == "zeros" and x.dim() == 3
                and _float32_on_usable_device(x, self.weight, self.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.ictus_supported(x):
            return super().forward(x)
        padding = self.padding if isinstance(self.padding, str) else self.padding[0]
        return _ConvFunction.apply(x, self.weight, self.bias, 1, self.stride[0], padding, self.dilation[0])


class Conv2d(nn.Conv2d):
    """torch.nn.Conv2d through ictus.conv2d (groups 1, zero padding, float32, input (N, C, H, W))."""

    def ictus_supported(self, x: torch.Tensor) -> bool:
        return (self.groups == 1 and self.padding_mode == "zeros" and x.dim() == 4
                and _float32_on_usable_device(x, self.weight, self.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.ictus_supported(x):
            return super().forward(x)
        return _ConvFunction.apply(x, self.weight, self.bias, 2, tuple(self.stride), _conv_padding(self.padding),
                                   tuple(self.dilation))


class _MaxPoolMixin:
    dims: int
    kernel_size: Any
    stride: Any
    padding: Any
    dilation: Any
    ceil_mode: bool
    return_indices: bool

    def ictus_supported(self, x: torch.Tensor) -> bool:
        return x.dim() == self.dims + 2 and _float32_on_usable_device(x)

    def _ictus_forward(self, x: torch.Tensor) -> Any:
        window = {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                  "dilation": self.dilation, "ceil_mode": self.ceil_mode}
        y, idx = _MaxPoolFunction.apply(x, self.dims, window)
        return (y, idx) if self.return_indices else y


class MaxPool1d(_MaxPoolMixin, nn.MaxPool1d):
    """torch.nn.MaxPool1d through ictus.max_pool1d (float32, input (N, C, T))."""

    dims = 1

    def forward(self, x: torch.Tensor) -> Any:
        return self._ictus_forward(x) if self.ictus_supported(x) else super().forward(x)


class MaxPool2d(_MaxPoolMixin, nn.MaxPool2d):
    """torch.nn.MaxPool2d through ictus.max_pool2d (float32, input (N, C, H, W))."""

    dims = 2

    def forward(self, x: torch.Tensor) -> Any:
        return self._ictus_forward(x) if self.ictus_supported(x) else super().forward(x)


class GRU(nn.GRU):
    """torch.nn.GRU through ictus.gru: any num_layers, bidirectional, batch_first, h0 and
    PackedSequence input (float32, no projections; dropout between layers runs torch's dropout)."""

    def ictus_supported(self, x: torch.Tensor) -> bool:
        return self.proj_size == 0 and x.dim() == 3 and _float32_on_usable_device(x, *self._flat_weights)

    def forward(self, input: Any, hx: torch.Tensor | None = None) -> Any:
        packed = isinstance(input, rnn_utils.PackedSequence)
        if packed:
            x, lengths_t = rnn_utils.pad_packed_sequence(input, batch_first=False)
            lengths = lengths_t.numpy().astype(np.int64)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
            lengths = None
        if not self.ictus_supported(x):
            return super().forward(input, hx)
        x = x.contiguous()
        directions = 2 if self.bidirectional else 1
        if hx is None:
            hx = x.new_zeros(self.num_layers * directions, x.shape[1], self.hidden_size)
        layer_in, finals = x, []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                weights = [getattr(self, f"{name}{suffix}", None)
                           for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                y, h_n = _GRULayerFunction.apply(layer_in, hx[layer * directions + direction].contiguous(), *weights,
                                                 bool(direction), lengths)
                outs.append(y)
                finals.append(h_n)
            layer_in = outs[0] if directions == 1 else torch.cat(outs, dim=2)
            if self.dropout > 0 and self.training and layer + 1 < self.num_layers:
                layer_in = nn.functional.dropout(layer_in, self.dropout, training=True)
        h_n = torch.stack(finals)
        if packed:
            out = rnn_utils.pack_padded_sequence(layer_in, lengths_t, enforce_sorted=False)
            return out, h_n
        return (layer_in.transpose(0, 1) if self.batch_first else layer_in), h_n


class ELU(nn.ELU):
    """torch.nn.ELU through ictus.elu (float32, alpha finite and >= 0, any non-empty shape;
    inplace=True needs a contiguous x)."""

    def ictus_supported(self, x: torch.Tensor) -> bool:
        return (ictus.ops.elu_alpha_supported(self.alpha) and x.numel() > 0 and x.dim() > 0
                and _float32_on_usable_device(x) and (x.is_contiguous() or not self.inplace))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.ictus_supported(x):
            return super().forward(x)
        return _EluFunction.apply(x, float(self.alpha), bool(self.inplace))


# ------------------------------------------------------------------------- patch

_SWAPS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: Conv1d, nn.Conv2d: Conv2d, nn.MaxPool1d: MaxPool1d, nn.MaxPool2d: MaxPool2d, nn.GRU: GRU, nn.ELU: ELU,
}


@dataclass
class PatchReport:
    """What patch() did: qualified names of the swapped submodules, and of the ones left to torch
    with the reason."""

    swapped: list[str] = field(default_factory=list)
    left: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"ictus.torch.patch: swapped {len(self.swapped)} module(s)"]
        lines += [f"  {name}" for name in self.swapped]
        lines += [f"  left to torch: {name} ({why})" for name, why in self.left.items()]
        return "\n".join(lines)


def _unsupported(module: nn.Module) -> str | None:
    """Why ictus cannot take this module at all (None: it can, call by call)."""
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        if module.groups != 1:
            return f"groups={module.groups}"
        if module.padding_mode != "zeros":
            return f"padding_mode={module.padding_mode!r}"
    if isinstance(module, nn.GRU) and module.proj_size != 0:
        return f"proj_size={module.proj_size}"
    return None


def patch(model: nn.Module) -> PatchReport:
    """Replaces, in place, every torch.nn Conv1d, Conv2d, MaxPool1d, MaxPool2d, GRU and ELU submodule of
    ``model`` whose options ictus supports by its ictus.torch twin (same parameters, shared, and
    state_dict); returns the report (print it to see what changed). ``model`` itself is not
    replaced, only its children."""
    report = PatchReport()
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            qualified = f"{parent_name}.{child_name}" if parent_name else child_name
            target = _SWAPS.get(type(child))
            if target is None:
                continue
            why = _unsupported(child)
            if why is not None:
                report.left[qualified] = why
                continue
            twin = target.__new__(target)
            twin.__dict__.update(child.__dict__)  # the same parameters, buffers, hooks and options
            setattr(parent, child_name, twin)
            report.swapped.append(qualified)
    return report
