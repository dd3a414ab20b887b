"""Losses with torch's definitions, an optional mask, and their gradients with respect to pred.

    loss = nn.BCELoss()
    value = loss(pred, target, mask=None)   # a Python float ("mean", "sum") or an array ("none")
    grad = loss.backward()                  # d value / d pred, pred's shape and dtype

Per element i (for CrossEntropyLoss, per position of (N, d1, ...): the class axis 1 is summed):
    BCELoss            -(t log p + (1 - t) log(1 - p)), each log clamped at -100 (torch's choice:
                       a finite loss and gradient at p = 0 or 1)
    BCEWithLogitsLoss  -(w t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))), w = pos_weight (1 if None),
                       computed as (1 - t) x + (1 + (w - 1) t) (log1p(exp(-|x|)) + max(-x, 0))
    CrossEntropyLoss   -log softmax(x)[target] for class indices, -sum_c t_c log softmax(x)_c for
                       class probabilities (target float, pred's shape)
    MSELoss            (p - t)^2
The mask (0/1 or non-negative weights, broadcastable to pred; for CrossEntropyLoss to (N, d1, ...))
multiplies each element's loss: masked elements contribute nothing and "mean" divides by the sum of
the mask over all elements instead of their count, the loss of beat trackers trained on partly
annotated data. A mask that sums to 0 gives 0 and a zero gradient (nothing to learn), not NaN.

Losses are computed in float64 (one conversion of pred) and returned as Python floats; gradients are
returned in pred's dtype. The latest call is kept for ``backward`` (one slot, replaced by the next
call, so validation loops that never call backward hold nothing more).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_floating
from .module import Module, array_module

_LOG_FLOOR = -100.0  # torch's clamp of log p and log(1 - p) in binary_cross_entropy
_BCE_GRAD_EPS = 1e-12  # torch's floor of p (1 - p) in binary_cross_entropy's backward


class _Loss(Module):
    """The reduction, the mask and the backward; subclasses give the per-element loss and gradient."""

    _reductions = ("mean", "sum", "none")

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in self._reductions:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {self._reductions}, got {reduction!r}")
        self.reduction = reduction
        self._last: tuple[Any, ...] | None = None

    def forward(self, pred: Any, target: Any, mask: Any = None) -> Any:
        name = type(self).__name__
        xp = check_floating(name, pred, "pred")
        target = self._check_target(xp, pred, target)
        pred64 = pred.astype(np.float64)
        loss = self._elementwise_loss(xp, pred64, target)
        weights = None if mask is None else self._mask_weights(xp, mask, loss.shape)
        if weights is not None:
            loss *= weights
        denominator = loss.size if weights is None else float(weights.sum())
        self._last = (pred, pred64, target, weights, denominator)
        if self.reduction == "none":
            return loss.astype(pred.dtype)
        total = float(loss.sum())
        if self.reduction == "sum":
            return total
        return total / denominator if denominator else 0.0

    def backward(self, grad_out: Any = None) -> Any:
        """d value / d pred for the latest call; ``grad_out`` (default 1, for "none" ones of the loss
        shape) is the gradient of a downstream quantity with respect to the value."""
        if self._last is None:
            raise RuntimeError(f"{type(self).__name__}.backward: no loss to differentiate (call the loss first, "
                               "once per backward)")
        pred, pred64, target, weights, denominator = self._last
        self._last = None
        xp = array_module(pred)
        scale = self._upstream(xp, grad_out, denominator)
        if weights is not None:
            scale = scale * weights
        grad = self._elementwise_grad(xp, pred64, target)
        grad *= self._expand(scale)
        return grad.astype(pred.dtype)

    def _upstream(self, xp: Any, grad_out: Any, denominator: float) -> Any:
        """The gradient reaching each element's loss from the reduced value."""
        if self.reduction == "none":
            return xp.float64(1) if grad_out is None else xp.asarray(grad_out, dtype=np.float64)
        upstream = 1.0 if grad_out is None else float(grad_out)
        if self.reduction == "mean":
            upstream = upstream / denominator if denominator else 0.0
        return xp.float64(upstream)

    def _mask_weights(self, xp: Any, mask: Any, loss_shape: tuple[int, ...]) -> Any:
        weights = xp.asarray(mask, dtype=np.float64)
        try:
            fits = np.broadcast_shapes(weights.shape, loss_shape) == tuple(loss_shape)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{type(self).__name__}: mask of shape {tuple(weights.shape)} does not broadcast to "
                             f"{self._mask_target_words()} {tuple(loss_shape)}")
        return xp.broadcast_to(weights, loss_shape)

    def _mask_target_words(self) -> str:
        return "pred's shape"

    def _expand(self, per_element: Any) -> Any:
        """Per-element-loss factors shaped to broadcast against the gradient of pred."""
        return per_element

    def _check_target(self, xp: Any, pred: Any, target: Any) -> Any:
        """target as an array of pred's shape (float64), after checking it."""
        name = type(self).__name__
        target = xp.asarray(target)
        if tuple(target.shape) != tuple(pred.shape):
            raise ValueError(f"{name}: target must have pred's shape {tuple(pred.shape)}, got {tuple(target.shape)}")
        return target.astype(np.float64)

    def _elementwise_loss(self, xp: Any, pred64: Any, target: Any) -> Any:
        raise NotImplementedError

    def _elementwise_grad(self, xp: Any, pred64: Any, target: Any) -> Any:
        """d loss_i / d pred as a new float64 array of pred's shape."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """(pred - target)^2 per element."""

    def _elementwise_loss(self, xp: Any, pred64: Any, target: Any) -> Any:
        diff = pred64 - target
        diff *= diff
        return diff

    def _elementwise_grad(self, xp: Any, pred64: Any, target: Any) -> Any:
        diff = pred64 - target
        diff *= 2
        return diff


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities pred in [0, 1] and targets in [0, 1]."""

    def _elementwise_loss(self, xp: Any, pred64: Any, target: Any) -> Any:
        if bool(((pred64 < 0) | (pred64 > 1)).any()):
            raise ValueError("BCELoss: pred must hold probabilities in [0, 1] (apply a Sigmoid, or use "
                             "BCEWithLogitsLoss on the logits)")
        floor = np.exp(_LOG_FLOOR)  # log(max(p, e^-100)) = max(log p, -100), without log(0) warnings
        log_p = xp.log(xp.maximum(pred64, floor))
        log_not_p = xp.log(xp.maximum(1 - pred64, floor))
        log_p *= target
        log_not_p *= 1 - target
        log_p += log_not_p
        xp.negative(log_p, out=log_p)
        return log_p

    def _elementwise_grad(self, xp: Any, pred64: Any, target: Any) -> Any:
        grad = pred64 - target
        grad /= xp.maximum((1 - pred64) * pred64, _BCE_GRAD_EPS)
        return grad


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of sigmoid(pred), from the logits (stable for any magnitude).

    pos_weight (optional, broadcastable to pred: (C,) weighs the classes of the last axis) scales
    the positive term, as torch's.
    """

    def __init__(self, pos_weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if pos_weight is not None:
            dtype = getattr(pos_weight, "dtype", np.asarray(pos_weight).dtype)
            if dtype.kind not in "fiu":
                raise TypeError(f"BCEWithLogitsLoss: pos_weight must be a numeric array, got dtype {dtype}")
        self.pos_weight = pos_weight

    def _log_weight(self, xp: Any, target: Any) -> Any:
        """1 + (pos_weight - 1) t, the factor of the log sigmoid(-x) term; None without pos_weight."""
        if self.pos_weight is None:
            return None
        pos_weight = xp.asarray(self.pos_weight, dtype=np.float64)
        try:
            np.broadcast_shapes(pos_weight.shape, target.shape)
        except ValueError:
            raise ValueError(f"BCEWithLogitsLoss: pos_weight of shape {tuple(pos_weight.shape)} does not "
                             f"broadcast to pred's shape {tuple(target.shape)}") from None
        return (pos_weight - 1) * target + 1

    def _elementwise_loss(self, xp: Any, pred64: Any, target: Any) -> Any:
        softplus_neg = xp.abs(pred64)                          # softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)
        xp.negative(softplus_neg, out=softplus_neg)
        xp.exp(softplus_neg, out=softplus_neg)
        xp.log1p(softplus_neg, out=softplus_neg)
        softplus_neg += xp.maximum(-pred64, 0)
        log_weight = self._log_weight(xp, target)
        if log_weight is not None:
            softplus_neg = softplus_neg * log_weight
        softplus_neg += (1 - target) * pred64
        return softplus_neg

    def _elementwise_grad(self, xp: Any, pred64: Any, target: Any) -> Any:
        # d/dx [(1 - t) x + w softplus(-x)] = (1 - t) - w sigmoid(-x)
        e = xp.exp(-xp.abs(pred64))
        sigmoid_neg = xp.where(pred64 >= 0, e, 1.0)
        sigmoid_neg /= 1 + e
        log_weight = self._log_weight(xp, target)
        if log_weight is not None:
            sigmoid_neg = sigmoid_neg * log_weight
        return (1 - target) - sigmoid_neg

    def extra_repr(self) -> str:
        return f"pos_weight={'None' if self.pos_weight is None else 'set'}, reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy over axis 1 of pred (N, C) or (N, C, d1, ...).

    target: class indices, an int array (N, d1, ...) with values in [0, C); or class
    probabilities, a float array of pred's shape. The loss has shape (N, d1, ...).
    """

    def _check_target(self, xp: Any, pred: Any, target: Any) -> Any:
        if pred.ndim < 2:
            raise ValueError(f"CrossEntropyLoss: pred must have shape (N, C) or (N, C, d1, ...), got {tuple(pred.shape)}")
        target = xp.asarray(target)
        classes = pred.shape[1]
        index_shape = (pred.shape[0], *pred.shape[2:])
        if target.dtype.kind in "iu" and tuple(target.shape) == index_shape:
            if target.size and (int(target.min()) < 0 or int(target.max()) >= classes):
                raise ValueError(f"CrossEntropyLoss: class indices must be in [0, {classes}), got values from "
                                 f"{int(target.min())} to {int(target.max())}")
            return target
        if target.dtype.kind == "f" and tuple(target.shape) == tuple(pred.shape):
            return target.astype(np.float64)
        raise ValueError(f"CrossEntropyLoss: target must be class indices (an int array of shape {index_shape}) or "
                         f"class probabilities (a float array of pred's shape {tuple(pred.shape)}), got a "
                         f"{target.dtype} array of shape {tuple(target.shape)}")

    @staticmethod
    def _log_softmax(xp: Any, pred64: Any) -> Any:
        log_p = pred64 - pred64.max(axis=1, keepdims=True)
        log_p -= xp.log(xp.exp(log_p).sum(axis=1, keepdims=True))
        return log_p

    def _elementwise_loss(self, xp: Any, pred64: Any, target: Any) -> Any:
        log_p = self._log_softmax(xp, pred64)
        if target.dtype.kind == "f":
            log_p *= target
            return -log_p.sum(axis=1)
        return -xp.take_along_axis(log_p, target[:, None], axis=1)[:, 0]

    def _elementwise_grad(self, xp: Any, pred64: Any, target: Any) -> Any:
        probabilities = self._log_softmax(xp, pred64)
        xp.exp(probabilities, out=probabilities)
        if target.dtype.kind == "f":
            # d/dx -sum_c t_c log softmax(x)_c = softmax(x) sum_c t_c - t
            probabilities *= target.sum(axis=1, keepdims=True)
            probabilities -= target
            return probabilities
        class_axis = xp.arange(pred64.shape[1]).reshape((1, -1) + (1,) * (pred64.ndim - 2))
        probabilities -= class_axis == target[:, None]
        return probabilities

    def _expand(self, per_element: Any) -> Any:
        return per_element[:, None] if per_element.ndim else per_element

    def _mask_target_words(self) -> str:
        return "the loss shape (N, d1, ...) ="
