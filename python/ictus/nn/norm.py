"""BatchNorm1d ((N, C) or (N, C, L)) and BatchNorm2d ((N, C, H, W)), with torch's semantics.

Per channel c, over every other axis (M values):
    y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
Training mode (and any mode without running statistics) normalises with the batch's mean and
biased variance and, when tracking, updates the buffers as torch does:
    running = (1 - f) running + f stat,  f = momentum, or 1 / num_batches_tracked if momentum is None
with the unbiased variance (times M / (M - 1)) going into running_var. Eval mode normalises with
running_mean and running_var. The statistics are accumulated in float64 (the mean, then the mean
of squared deviations from it: two passes, no E[x^2] - E[x]^2 cancellation), and the mean is
subtracted in two float32 parts (see _centered), so inputs far from 0 keep float32 accuracy.

Backward, with x_hat = (x - mean) / std and g = grad_out:
    batch statistics:    grad_x = weight / std * (g - mean(g) - x_hat * mean(g * x_hat))
    running statistics:  grad_x = weight / std * g
    grad_weight = sum(g * x_hat),  grad_bias = sum(g)   (sums over every axis but the channel one)
Forward keeps the input itself (usually saved by the layer before anyway), the mean and 1 / std;
x_hat is recomputed in backward.

Eval mode: torch's fine-tuning idiom ``model.train(); bn.eval()`` (frozen statistics, gradients
still flowing) needs a backward in eval mode, while a module in eval mode keeps nothing on its
stack (inference would pile up saved arrays). So in eval mode BatchNorm keeps its latest forward
only, in one slot that the next forward replaces: inference holds one reference to the last input.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_floating
from .module import Module, Parameter, array_module


class _BatchNorm(Module):
    """Batch normalisation over axis 1 of an input whose rank is one of ``_ranks``."""

    _ranks: tuple[int, ...]
    _trailing: tuple[str, ...]  # names of the axes after C, per accepted rank, for error messages

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int (the channel count), got {num_features!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"{name}: eps must be a number > 0, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be in [0, 1] or None (cumulative average), got {momentum!r}")
        for flag, value in (("affine", affine), ("track_running_stats", track_running_stats)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: {flag} must be True or False, got {value!r}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(self.num_features, dtype=np.float32))
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        self._eval_record: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ forward
    def forward(self, x: Any) -> Any:
        xp = check_floating(type(self).__name__, x)
        self._check_shape(x)
        axes = (0, *range(2, x.ndim))
        channel_shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        uses_batch_stats = self.training or not self.track_running_stats
        if uses_batch_stats:
            mean, inv_std = self._batch_statistics(xp, x, axes, channel_shape)
        else:
            mean = (self.running_mean.astype(x.dtype).reshape(channel_shape), None)
            inv_std = (1 / xp.sqrt(self.running_var.astype(np.float64) + self.eps)).astype(x.dtype)
        inv_std = inv_std.reshape(channel_shape)
        y = _centered(x, mean)
        y *= inv_std * self.weight.data.reshape(channel_shape) if self.affine else inv_std
        if self.affine:
            y += self.bias.data.reshape(channel_shape)
        record = (x, mean, inv_std, uses_batch_stats)
        if self.training:
            self._save(*record)
        else:
            self._eval_record = record
        return y

    def _check_shape(self, x: Any) -> None:
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            wanted = " or ".join("(" + ", ".join(("N", str(self.num_features), *rest)) + ")" for rest in self._trailing)
            raise ValueError(f"{type(self).__name__}: x must have shape {wanted}, got {tuple(x.shape)}")

    def _batch_statistics(self, xp: Any, x: Any, axes: tuple[int, ...], channel_shape: tuple[int, ...]
                          ) -> tuple[tuple[Any, Any], Any]:
        """(mean as a (high, low) pair, 1 / sqrt(biased var + eps)) per channel in x's dtype; updates the
        running buffers."""
        count = x.size // self.num_features
        if count < 2:
            raise ValueError(f"{type(self).__name__}: expected more than 1 value per channel to compute batch "
                             f"statistics, got x of shape {tuple(x.shape)} (use a larger batch, or eval mode)")
        mean64 = x.mean(axis=axes, dtype=np.float64)
        high = mean64.astype(x.dtype)
        mean = (high.reshape(channel_shape), (mean64 - high).astype(x.dtype).reshape(channel_shape))
        deviation = _centered(x, mean)
        deviation *= deviation
        var64 = deviation.mean(axis=axes, dtype=np.float64)
        if self.training and self.track_running_stats:
            self._update_running_stats(mean64, var64 * (count / (count - 1)))
        return mean, (1 / xp.sqrt(var64 + self.eps)).astype(x.dtype)

    def _update_running_stats(self, mean64: Any, unbiased_var64: Any) -> None:
        batches = self.num_batches_tracked
        batches += 1  # in place: the buffer registered in the state_dict stays the same array
        factor = 1 / float(batches) if self.momentum is None else self.momentum
        for buffer, stat in ((self.running_mean, mean64), (self.running_var, unbiased_var64)):
            buffer[...] = (1 - factor) * buffer.astype(np.float64) + factor * stat

    # ------------------------------------------------------------------ backward
    def backward(self, grad_out: Any) -> Any:
        x, mean, inv_std, uses_batch_stats = self._saved() if self.training else self._take_eval_record()
        xp = array_module(x)
        axes = (0, *range(2, x.ndim))
        x_hat = _centered(x, mean)
        x_hat *= inv_std
        grad_x_hat = grad_out * x_hat
        sum_g = grad_out.sum(axis=axes, dtype=np.float64)
        sum_g_x_hat = grad_x_hat.sum(axis=axes, dtype=np.float64)
        scale = inv_std * self.weight.data.reshape(inv_std.shape) if self.affine else inv_std
        if self.affine:
            self.weight.accumulate(sum_g_x_hat.astype(self.weight.data.dtype))
            self.bias.accumulate(sum_g.astype(self.bias.data.dtype))
        if not uses_batch_stats:
            xp.multiply(grad_out, scale, out=grad_x_hat)
            return grad_x_hat
        count = x.size // self.num_features
        # g - mean(g) - x_hat mean(g x_hat), built in the x_hat array
        x_hat *= (sum_g_x_hat / count).astype(x.dtype).reshape(inv_std.shape)
        xp.subtract(grad_out, x_hat, out=x_hat)
        x_hat -= (sum_g / count).astype(x.dtype).reshape(inv_std.shape)
        x_hat *= scale
        return x_hat

    def _take_eval_record(self) -> tuple[Any, ...]:
        record, self._eval_record = self._eval_record, None
        if record is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no forward pass to differentiate (run forward "
                               "before backward, once per backward)")
        return record

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


def _centered(x: Any, mean: tuple[Any, Any | None]) -> Any:
    """x - mean as a new array, the mean given as high + low parts in x's dtype (low may be None).

    A float32 mean of data far from 0 (x = 1000 + noise) is off by up to half an ulp of 1000, 3e-5,
    which would be a 3e-5 error on every deviation of size 1. x - high is exact for x near the mean
    (Sterbenz), so subtracting the rounding residual low afterwards keeps the deviations accurate.
    """
    high, low = mean
    centered = x - high
    if low is not None:
        centered -= low
    return centered


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of x (N, C) or (N, C, L) per channel C (torch.nn.BatchNorm1d)."""

    _ranks = (2, 3)
    _trailing = ((), ("L",))


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of x (N, C, H, W) per channel C (torch.nn.BatchNorm2d)."""

    _ranks = (4,)
    _trailing = (("H", "W"),)
