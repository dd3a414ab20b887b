"""GRU layer on ictus' GRU kernels: torch.nn.GRU's options, parameters and initialisation.

x (T, N, D), or (N, T, D) with batch_first, -> y (T, N, H * directions) (batch_first: (N, T, ...))
and h_n (num_layers * directions, N, H). Layer l's parameters are weight_ih_l{l} (3H, D_l),
weight_hh_l{l} (3H, H), bias_ih_l{l} and bias_hh_l{l} (3H,), with "_reverse" for the backward
direction; gate rows in the order reset, update, new; D_0 = input_size, D_l = H * directions.

Each layer and direction is one ictus.gru call over the whole sequence (time-major); a
bidirectional layer's two outputs are concatenated along features. ``lengths`` gives each
sequence's length, as torch's packed sequences: outputs past it are zero, h_n is the state at its
last step. Dropout between layers (training only) multiplies layer outputs by the mask
``(generator().random(shape, dtype=np.float32) >= dropout) / (1 - dropout)``, as ictus.nn.Dropout
draws it (all zeros for dropout = 1). With ``linear_before_reset=False`` the new gate is
tanh(W_in x + b_in + W_hn (r * h) + b_hn) (Keras' reset_after=False) instead of torch's
tanh(W_in x + b_in + r * (W_hn h + b_hn)).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from .checks import check_array, check_int
from .module import Module, Parameter, array_module
from .random import generator, uniform

_PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class GRU(Module):
    """Multi-layer, optionally bidirectional GRU, as torch.nn.GRU (no projections).

    ``forward(x, h0=None, lengths=None) -> (y, h_n)``; ``backward(grad_y, grad_h_n=None)`` returns
    grad_x, or ``(grad_x, grad_h0)`` when forward was given h0.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 linear_before_reset: bool = True) -> None:
        super().__init__()
        self.input_size = check_int("GRU", "input_size", input_size)
        self.hidden_size = check_int("GRU", "hidden_size", hidden_size)
        self.num_layers = check_int("GRU", "num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout <= 1.0:
            raise ValueError(f"GRU: dropout must be a probability in [0, 1], got {dropout!r}")
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.linear_before_reset = bool(bidirectional), bool(linear_before_reset)
        self.directions = 2 if bidirectional else 1
        bound = 1.0 / math.sqrt(self.hidden_size)
        gates = 3 * self.hidden_size
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * self.directions
            for direction in range(self.directions):
                suffix = self._suffix(layer, direction)
                setattr(self, f"weight_ih{suffix}", Parameter(uniform((gates, layer_input), bound)))
                setattr(self, f"weight_hh{suffix}", Parameter(uniform((gates, self.hidden_size), bound)))
                if self.bias:
                    setattr(self, f"bias_ih{suffix}", Parameter(uniform((gates,), bound)))
                    setattr(self, f"bias_hh{suffix}", Parameter(uniform((gates,), bound)))

    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _parameters_of(self, layer: int, direction: int) -> list[Parameter | None]:
        suffix = self._suffix(layer, direction)
        return [self._parameters.get(f"{name}{suffix}") for name in _PARAMETER_NAMES]

    def _sequence_shape(self, steps: Any, batch: Any, features: Any) -> tuple[Any, ...]:
        """The shape of a sequence array (x, y or their gradients) in this layer's layout."""
        return (batch, steps, features) if self.batch_first else (steps, batch, features)

    def _time_major(self, a: Any) -> Any:
        return array_module(a).ascontiguousarray(a.transpose(1, 0, 2)) if self.batch_first else a

    def _dropout_mask(self, shape: tuple[int, ...], xp: Any) -> Any:
        keep = generator().random(shape, dtype=np.float32) >= self.dropout
        scale = 0.0 if self.dropout == 1.0 else 1.0 / (1.0 - self.dropout)
        return xp.asarray(keep.astype(np.float32) * np.float32(scale))

    def forward(self, x: Any, h0: Any = None, lengths: Any = None) -> tuple[Any, Any]:
        check_array("GRU", "x", x, self._sequence_shape("T", "N", self.input_size))
        xp = array_module(x)
        layer_in = self._time_major(x)
        batch = layer_in.shape[1]
        states = self.num_layers * self.directions
        if h0 is not None:
            check_array("GRU", "h0", h0, (states, batch, self.hidden_size))
        inputs, weights, initial, reserves, masks, finals = [], [], [], [], [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.directions):
                arrays = [None if p is None else p.data for p in self._parameters_of(layer, direction)]
                start = None if h0 is None else h0[layer * self.directions + direction]
                out = ops.gru(layer_in, start, *arrays, reverse=bool(direction),
                              linear_before_reset=self.linear_before_reset, training=self.training, lengths=lengths)
                outputs.append(out[0])
                finals.append(out[1])
                weights.append(arrays[:2])
                initial.append(start)
                reserves.append(out[2] if self.training else None)
            inputs.append(layer_in)
            layer_in = outputs[0] if self.directions == 1 else xp.concatenate(outputs, axis=2)
            if self.training and self.dropout > 0 and layer + 1 < self.num_layers:
                masks.append(self._dropout_mask(layer_in.shape, xp))
                layer_in = layer_in * masks[-1]
        self._save(inputs, weights, initial, reserves, masks, lengths, h0 is not None, layer_in.shape)
        return self._time_major(layer_in), xp.stack(finals)

    def backward(self, grad_y: Any, grad_h_n: Any = None) -> Any:
        inputs, weights, initial, reserves, masks, lengths, had_h0, y_shape = self._saved()
        steps, batch, features = y_shape
        check_array("GRU.backward", "grad_y", grad_y, self._sequence_shape(steps, batch, features))
        if grad_h_n is not None:
            check_array("GRU.backward", "grad_h_n", grad_h_n,
                        (self.num_layers * self.directions, batch, self.hidden_size))
        xp = array_module(grad_y)
        grad_out = self._time_major(grad_y)
        grad_h0: list[Any] = [None] * (self.num_layers * self.directions)
        hidden = self.hidden_size
        for layer in reversed(range(self.num_layers)):
            if layer < len(masks):
                grad_out = grad_out * masks[layer]
            grad_in = None
            for direction in range(self.directions):
                index = layer * self.directions + direction
                grad_y_dir = grad_out if self.directions == 1 else \
                    xp.ascontiguousarray(grad_out[:, :, direction * hidden:(direction + 1) * hidden])
                grads = ops.gru_backward(grad_y_dir, None if grad_h_n is None else grad_h_n[index], inputs[layer],
                                         initial[index], *weights[index], reserves[index], reverse=bool(direction),
                                         linear_before_reset=self.linear_before_reset, bias=self.bias, lengths=lengths)
                for parameter, grad in zip(self._parameters_of(layer, direction), grads[2:], strict=True):
                    if parameter is not None:
                        parameter.accumulate(grad)
                grad_in = grads[0] if grad_in is None else grad_in + grads[0]
                grad_h0[index] = grads[1]
            grad_out = grad_in
        grad_x = self._time_major(grad_out)
        return (grad_x, xp.stack(grad_h0)) if had_h0 else grad_x

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, bias={self.bias}, "
                f"batch_first={self.batch_first}, dropout={self.dropout}, bidirectional={self.bidirectional}, "
                f"linear_before_reset={self.linear_before_reset}")


__all__ = ["GRU"]
