"""Element-wise activations (ELU, ReLU, Tanh, Sigmoid) and Softmax over one axis, forward and backward.

Any shape, any floating dtype, NumPy or CuPy (the math is written against ``xp``; float32 ELU
runs ictus' ELU kernels). Each backward
needs only the saved output y, not the input: ELU' = 1 if y > 0 else y + alpha, ReLU' = [y > 0],
tanh' = 1 - y^2, sigmoid' = y (1 - y), and softmax's vector-Jacobian product is
y * (g - sum(g * y)). Results are built in place in one output array where the math allows.
"""
from __future__ import annotations

from typing import Any

from .. import ops
from .checks import check_floating
from .module import Module, array_module


class _Elementwise(Module):
    """y = f(x) element-wise; backward multiplies grad_out by f'(x), written in terms of the saved y."""

    def forward(self, x: Any) -> Any:
        y = self._apply(check_floating(type(self).__name__, x), x)
        self._save(y)
        return y

    def backward(self, grad_out: Any) -> Any:
        (y,) = self._saved()
        return self._gradient(array_module(y), y, grad_out)

    def _gradient(self, xp: Any, y: Any, grad_out: Any) -> Any:
        derivative = self._derivative(xp, y)
        derivative *= grad_out
        return derivative

    def _apply(self, xp: Any, x: Any) -> Any:
        raise NotImplementedError

    def _derivative(self, xp: Any, y: Any) -> Any:
        """f'(x) as a new array computed from y = f(x)."""
        raise NotImplementedError


class ELU(_Elementwise):
    """ELU(x) = x if x > 0 else alpha (exp(x) - 1), torch.nn.ELU's definition (alpha >= 0).

    ``inplace=True`` (float32, C-contiguous x) writes y over x, as torch's: no new activation array
    (x must not be needed afterwards; the layers before an ELU keep only their inputs).
    """

    non_decreasing = True

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)
        self.alpha = ops.elu_alpha("ELU", alpha)

    # float32 runs ictus' ELU kernels: one pass over memory. Other dtypes: the array expression,
    # branch-free (a masked copy, copyto(where=x > 0), took 27 ms over the front end's 4.7 M
    # activations, its mask being random; these five passes take about 8, the kernel about 2).
    def _apply(self, xp: Any, x: Any) -> Any:
        if x.dtype == xp.float32:
            return ops.elu(x, self.alpha, out=x if self.inplace and x.flags.c_contiguous else None)
        y = xp.minimum(x, 0)
        xp.expm1(y, out=y)  # expm1: no cancellation for small |x|
        if self.alpha != 1.0:
            y *= self.alpha
        y += xp.maximum(x, 0)
        return y

    def _gradient(self, xp: Any, y: Any, grad_out: Any) -> Any:
        if y.dtype == xp.float32 and grad_out.dtype == xp.float32:
            return ops.elu_backward(grad_out, y, self.alpha)
        return super()._gradient(xp, y, grad_out)

    def _derivative(self, xp: Any, y: Any) -> Any:
        # for x <= 0, d/dx alpha (exp(x) - 1) = alpha exp(x) = y + alpha, and y <= 0; for x > 0 it is
        # 1, and y > 0: min(y, 0) + alpha, plus 1 - alpha where y > 0
        derivative = xp.minimum(y, 0)
        derivative += self.alpha
        if self.alpha != 1.0:
            derivative += (y > 0) * derivative.dtype.type(1.0 - self.alpha)
        return derivative

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class ReLU(_Elementwise):
    """ReLU(x) = max(x, 0); the gradient at 0 is 0, as torch."""

    non_decreasing = True

    def _apply(self, xp: Any, x: Any) -> Any:
        return xp.maximum(x, 0)

    def _derivative(self, xp: Any, y: Any) -> Any:
        return (y > 0).astype(y.dtype)


class Tanh(_Elementwise):
    """tanh(x)."""

    non_decreasing = True

    def _apply(self, xp: Any, x: Any) -> Any:
        return xp.tanh(x)

    def _derivative(self, xp: Any, y: Any) -> Any:
        derivative = y * y
        xp.subtract(1, derivative, out=derivative)
        return derivative


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), from exp(-|x|) so it neither overflows nor rounds small values to 0."""

    non_decreasing = True

    def _apply(self, xp: Any, x: Any) -> Any:
        e = xp.abs(x)
        xp.negative(e, out=e)
        xp.exp(e, out=e)            # e = exp(-|x|) in (0, 1]
        y = e + 1
        xp.reciprocal(y, out=y)     # 1 / (1 + exp(-|x|)): sigmoid(|x|)
        e *= y                      # exp(-|x|) / (1 + exp(-|x|)): sigmoid(-|x|), without 1 - y's cancellation
        xp.copyto(y, e, where=x < 0)
        return y

    def _derivative(self, xp: Any, y: Any) -> Any:
        derivative = 1 - y
        derivative *= y
        return derivative


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (default the last), with the maximum subtracted first."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"Softmax: dim must be an int, got {dim!r}")
        self.dim = dim

    def forward(self, x: Any) -> Any:
        xp = check_floating("Softmax", x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Softmax: dim={self.dim} is out of range for x of shape {tuple(x.shape)}")
        y = x - x.max(axis=self.dim, keepdims=True)
        xp.exp(y, out=y)
        y /= y.sum(axis=self.dim, keepdims=True)
        self._save(y)
        return y

    def backward(self, grad_out: Any) -> Any:
        (y,) = self._saved()
        grad = grad_out * y
        dot = grad.sum(axis=self.dim, keepdims=True)
        array_module(y).subtract(grad_out, dot, out=grad)  # the product g y is no longer needed
        grad *= y
        return grad

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
