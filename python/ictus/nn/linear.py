"""Linear layer: y = x W^T + b on the last axis, as torch.nn.Linear.

x (..., in_features) -> y (..., out_features) with weight (out_features, in_features) and bias
(out_features,), for inputs of any rank >= 1. The products are NumPy/CuPy float32 matmuls over x
flattened to (rows, in_features), so a (N, T, D) sequence is one GEMM.
"""
from __future__ import annotations

import math
from typing import Any

from .checks import check_array, check_int
from .module import Module, Parameter
from .random import uniform


class Linear(Module):
    """y = x @ weight.T + bias over the last axis; torch's parameters and default initialisation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = check_int("Linear", "in_features", in_features)
        self.out_features = check_int("Linear", "out_features", out_features)
        # torch's kaiming_uniform_(a=sqrt(5)) gives weight bound 1/sqrt(fan_in), as for the bias
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(uniform((self.out_features, self.in_features), bound))
        self.bias = Parameter(uniform((self.out_features,), bound)) if bias else None

    def forward(self, x: Any) -> Any:
        check_array("Linear", "x", x, ("...", self.in_features))
        weight = self.weight.data
        y = x @ weight.T
        if self.bias is not None:
            y += self.bias.data
        self._save(x, weight)
        return y

    def backward(self, grad_out: Any) -> Any:
        x, weight = self._saved()
        check_array("Linear.backward", "grad_out", grad_out, (*x.shape[:-1], self.out_features))
        rows = grad_out.reshape(-1, self.out_features)
        self.weight.accumulate(rows.T @ x.reshape(-1, self.in_features))
        if self.bias is not None:
            self.bias.accumulate(rows.sum(axis=0))
        return grad_out @ weight

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


__all__ = ["Linear"]
