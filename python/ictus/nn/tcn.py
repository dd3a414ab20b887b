"""The temporal convolutional network (TCN) of beat and tempo tracking: TCNBlock and TCN.

A TCNBlock maps x (N, C_in, T) to (out, skip), both (N, C, T):
    h    = concat over f in ``parallel`` of Conv1d(C_in -> C, K, dilation = dilation * f, "same")(x)
    a    = SpatialDropout1d(activation(h))            (N, len(parallel) * C, T)
    skip = Conv1d(len(parallel) * C -> C, 1)(a)
    out  = Conv1d(C_in -> C, 1)(x) + skip             (the 1x1 residual projection)
This is the block of Davies & Boeck (2019) and, with parallel dilations, of Boeck & Davies (2020).

A TCN stacks blocks with the given dilations (the first takes C_in channels, the rest C) and
returns activation(sum of the blocks' skips) with skip_connections, else activation(the last
block's out): (N, C_in, T) -> (N, C, T). "same" padding keeps T frames at every dilation, also
where the dilation exceeds T (the taps then read zeros).

Backward runs the blocks in reverse; a block receives the gradients of both its outputs. With
skip_connections the last block's ``out`` is unused, so its residual projection gets no gradient
(grad stays None, as in torch).

State dict names: ``blocks.<i>.dilated.<j>.weight``, ``blocks.<i>.skip.weight``,
``blocks.<i>.residual.weight`` (and ``.bias``), as a torch model with ModuleLists of those names.
The block lists are Sequentials only for these names: they are iterated, never run as a chain.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .activation import ELU, ReLU, Sigmoid, Tanh
from .checks import check_array, check_int
from .conv import Conv1d
from .dropout import SpatialDropout1d
from .module import Module, Sequential, array_module

_ACTIVATIONS: dict[str, type[Module]] = {"elu": ELU, "relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def _activation(layer: str, name: str) -> Module:
    if name not in _ACTIVATIONS:
        raise ValueError(f"{layer}: activation must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]()


def _positive_ints(layer: str, name: str, values: Any) -> tuple[int, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        raise ValueError(f"{layer}: {name} must be a non-empty sequence of ints >= 1, got {values!r}")
    return tuple(values)


class TCNBlock(Module):
    """One residual block: parallel dilated convolutions, activation, spatial dropout, 1x1 skip and
    residual projections. forward(x (N, C_in, T)) -> (out, skip), each (N, channels, T)."""

    def __init__(self, channels: int, kernel_size: int = 5, dilation: int = 1, parallel: Sequence[int] = (1,),
                 dropout: float = 0.1, activation: str = "elu", in_channels: int | None = None) -> None:
        super().__init__()
        self.parallel = _positive_ints("TCNBlock", "parallel", parallel)
        (self.dilation,) = _positive_ints("TCNBlock", "dilation", (dilation,))
        self.channels = check_int("TCNBlock", "channels", channels)
        self.in_channels = self.channels if in_channels is None else check_int("TCNBlock", "in_channels", in_channels)
        self.dilated = Sequential(*(Conv1d(self.in_channels, channels, kernel_size, dilation=self.dilation * f,
                                           padding="same") for f in self.parallel))
        self.activation = _activation("TCNBlock", activation)
        if isinstance(self.activation, ELU):
            self.activation.inplace = True  # h, the convolutions' output, is this block's own array
        self.dropout = SpatialDropout1d(dropout)
        self.skip = Conv1d(len(self.parallel) * channels, channels, 1)
        self.residual = Conv1d(self.in_channels, channels, 1)

    def forward(self, x: Any) -> tuple[Any, Any]:
        check_array("TCNBlock", "x", x, ("N", self.in_channels, "T"))
        if len(self.parallel) == 1:
            h = self.dilated[0](x)
        elif x.shape[0] == 1:  # each branch's channels are one contiguous run of h: written in place
            h = array_module(x).empty((1, len(self.parallel) * self.channels, x.shape[2]), x.dtype)
            for i, conv in enumerate(self.dilated):
                conv(x, out=h[:, i * self.channels:(i + 1) * self.channels])
        else:
            h = array_module(x).concatenate([conv(x) for conv in self.dilated], axis=1)
        skip = self.skip(self.dropout(self.activation(h)))
        out = self.residual(x)
        out += skip
        return out, skip

    def backward(self, grad_out: Any, grad_skip: Any = None) -> Any:
        """grad_x from the gradients of out and skip (either may be None: that output was unused)."""
        if grad_out is None and grad_skip is None:
            raise ValueError("TCNBlock.backward: give the gradient of out, of skip, or both")
        if grad_out is None:
            self.residual._saved()  # out was unused: drop what its forward kept, its weights get no gradient
            total_skip = grad_skip
        else:
            total_skip = grad_out if grad_skip is None else grad_out + grad_skip
        grad_h = self.activation.backward(self.dropout.backward(self.skip.backward(total_skip)))
        channels = self.channels
        grad_x = None
        for i, conv in reversed(list(enumerate(self.dilated))):
            part = grad_h if len(self.parallel) == 1 else array_module(grad_h).ascontiguousarray(
                grad_h[:, i * channels:(i + 1) * channels])
            grad_branch = conv.backward(part)
            grad_x = grad_branch if grad_x is None else grad_x + grad_branch
        if grad_out is not None:
            grad_x += self.residual.backward(grad_out)
        return grad_x

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.channels}, dilation={self.dilation}, parallel={self.parallel}"


class TCN(Module):
    """Blocks with dilations ``dilations``: x (N, in_channels, T) -> (N, channels, T)."""

    def __init__(self, in_channels: int, channels: int, kernel_size: int = 5,
                 dilations: Sequence[int] = tuple(2 ** i for i in range(11)), parallel: Sequence[int] = (1,),
                 dropout: float = 0.1, skip_connections: bool = True, activation: str = "elu") -> None:
        super().__init__()
        dilations = _positive_ints("TCN", "dilations", dilations)
        if not isinstance(skip_connections, bool):
            raise TypeError(f"TCN: skip_connections must be True or False, got {skip_connections!r}")
        self.in_channels = check_int("TCN", "in_channels", in_channels)
        final_activation = _activation("TCN", activation)  # checked before the blocks name the block
        self.skip_connections = skip_connections
        self.blocks = Sequential(*(TCNBlock(channels, kernel_size, d, parallel, dropout, activation,
                                            in_channels if i == 0 else channels) for i, d in enumerate(dilations)))
        self.activation = final_activation

    def forward(self, x: Any) -> Any:
        check_array("TCN", "x", x, ("N", self.in_channels, "T"))
        total_skip = None
        for block in self.blocks:
            x, skip = block(x)
            total_skip = skip if total_skip is None else total_skip + skip
        return self.activation(total_skip if self.skip_connections else x)

    def backward(self, grad_out: Any) -> Any:
        grad = self.activation.backward(grad_out)
        grad_skip = grad if self.skip_connections else None
        grad_x = None if self.skip_connections else grad
        for block in reversed(list(self.blocks)):
            grad_x = block.backward(grad_x, grad_skip)
        return grad_x

    def extra_repr(self) -> str:
        return f"skip_connections={self.skip_connections}"
