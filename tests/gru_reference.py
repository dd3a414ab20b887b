"""Plain float64 NumPy reference for ictus' GRU layer (ictus.gru / ictus.gru_backward).

One layer, one direction, time-major, torch.nn.GRU's weight layout: x (T, N, D), h0 (N, H),
w_ih (3H, D), w_hh (3H, H), b_ih and b_hh (3H,), rows in gate order reset, update, new (r, z, n);
y (T, N, H), h_n (N, H). A step takes sequence i from state h to h', reading x[t, i]:

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))      linear_before_reset=True (torch's GRU)
    n  = tanh(W_in x + b_in + W_hn (r * h) + b_hn)      linear_before_reset=False
    h' = (1 - z) * n + z * h

Steps run t = 0 .. T-1, or T-1 .. 0 with reverse=True; y[t] is the state after step t. With
`lengths`, sequence i takes only the steps t < lengths[i]: at the others its state stays as it is
and y[t, i] is zero, so reversed it starts at its own last step lengths[i] - 1 (torch's packed
sequences). h_n is the state after the last step. Biases None are zeros; h0 None is zeros.

gru_backward gives the gradients of L = sum(grad_y * y) + sum(grad_h_n * h_n) (grad_h_n None is
zeros) by running the steps backwards. The reference is proven by central finite differences and
compared with torch.nn.GRU (float64) in test_gru.py; the kernels are then checked against it.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def _f64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


@dataclasses.dataclass
class _Trace:
    """What the forward pass saw and computed at each step, indexed by t (not by step order)."""

    active: np.ndarray  # (T, N) bool: sequence i takes step t (t < lengths[i])
    h: np.ndarray  # (T, N, H) state before step t
    r: np.ndarray  # (T, N, H) gates, as in the module docstring
    z: np.ndarray
    n: np.ndarray
    v: np.ndarray  # (T, N, H) what W_hn multiplies: h (linear_before_reset) or r * h
    hn: np.ndarray  # (T, N, H) W_hn v + b_hn


def _run_forward(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, reverse: bool,
                 linear_before_reset: bool, lengths: Any) -> tuple[np.ndarray, np.ndarray, _Trace]:
    x, w_ih, w_hh = _f64(x), _f64(w_ih), _f64(w_hh)
    t_len, batch, d = x.shape
    hidden = w_hh.shape[1]
    assert w_ih.shape == (3 * hidden, d) and w_hh.shape == (3 * hidden, hidden)
    b_ih = np.zeros(3 * hidden) if b_ih is None else _f64(b_ih)
    b_hh = np.zeros(3 * hidden) if b_hh is None else _f64(b_hh)
    h = np.zeros((batch, hidden)) if h0 is None else _f64(h0).copy()
    lengths = np.full(batch, t_len) if lengths is None else np.asarray(lengths)
    assert lengths.shape == (batch,) and np.all((lengths >= 1) & (lengths <= t_len))
    w_hr, w_hz, w_hn = np.split(w_hh, 3)
    b_hr, b_hz, b_hn = np.split(b_hh, 3)

    trace = _Trace(np.arange(t_len)[:, None] < lengths[None, :],
                   *(np.zeros((t_len, batch, hidden)) for _ in range(6)))
    y = np.zeros((t_len, batch, hidden))
    for t in (reversed(range(t_len)) if reverse else range(t_len)):
        a_r, a_z, a_n = np.split(x[t] @ w_ih.T + b_ih, 3, axis=1)  # input side of each gate
        r = _sigmoid(a_r + h @ w_hr.T + b_hr)
        z = _sigmoid(a_z + h @ w_hz.T + b_hz)
        v = h if linear_before_reset else r * h
        hn = v @ w_hn.T + b_hn
        n = np.tanh(a_n + r * hn) if linear_before_reset else np.tanh(a_n + hn)
        h_new = (1.0 - z) * n + z * h
        trace.h[t], trace.r[t], trace.z[t], trace.n[t], trace.v[t], trace.hn[t] = h, r, z, n, v, hn
        active = trace.active[t][:, None]
        y[t] = np.where(active, h_new, 0.0)
        h = np.where(active, h_new, h)
    return y, h, trace


def gru_forward(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None, reverse: bool = False,
                linear_before_reset: bool = True, lengths: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(y, h_n) in float64, from the equations in the module docstring."""
    y, h_n, _ = _run_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, linear_before_reset, lengths)
    return y, h_n


@dataclasses.dataclass
class _GateGradients:
    """The backward recurrence's result: dL/dh0, and per step t the gradients of L with respect to
    the input-side sums W_ih x + b_ih (`inputs`) and hidden-side sums W_hh (h, h, v) + b_hh (`hidden`)
    of the three gates (T, N, 3H each), and dL/dh' of each step (`outputs`, T, N, H); all zero where a
    sequence skips step t."""

    grad_h0: np.ndarray
    inputs: np.ndarray
    hidden: np.ndarray
    outputs: np.ndarray
    trace: _Trace


def _gate_gradients(grad_y: Any, grad_h_n: Any, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any,
                    reverse: bool, linear_before_reset: bool, lengths: Any) -> _GateGradients:
    _, _, tr = _run_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, linear_before_reset, lengths)
    grad_y = _f64(grad_y)
    t_len, batch, hidden = tr.h.shape
    assert grad_y.shape == (t_len, batch, hidden)
    w_hr, w_hz, w_hn = np.split(_f64(w_hh), 3)
    grad_h = np.zeros((batch, hidden)) if grad_h_n is None else _f64(grad_h_n).copy()  # dL/d(state after step)
    inputs = np.zeros((t_len, batch, 3 * hidden))
    hidden_sums = np.zeros((t_len, batch, 3 * hidden))
    outputs = np.zeros((t_len, batch, hidden))
    for t in (range(t_len) if reverse else reversed(range(t_len))):  # the forward steps, last first
        active = tr.active[t][:, None]
        h, r, z, n = tr.h[t], tr.r[t], tr.z[t], tr.n[t]
        # dL/dh' for the sequences that take this step; y[t] of the others is a constant zero
        g = outputs[t] = np.where(active, grad_h + grad_y[t], 0.0)
        d_n = g * (1.0 - z) * (1.0 - n * n)  # dL/d(pre-activation of n)
        d_z = g * (h - n) * z * (1.0 - z)
        if linear_before_reset:
            d_hn = d_n * r  # dL/d(W_hn h + b_hn)
            d_r = d_n * tr.hn[t] * r * (1.0 - r)
            grad_h_via_hn = d_hn @ w_hn
        else:
            d_hn = d_n  # dL/d(W_hn (r * h) + b_hn)
            d_rh = d_n @ w_hn  # dL/d(r * h)
            d_r = d_rh * h * r * (1.0 - r)
            grad_h_via_hn = d_rh * r
        inputs[t] = np.concatenate([d_r, d_z, d_n], axis=1)
        hidden_sums[t] = np.concatenate([d_r, d_z, d_hn], axis=1)
        grad_h_prev = g * z + d_r @ w_hr + d_z @ w_hz + grad_h_via_hn
        grad_h = np.where(active, grad_h_prev, grad_h)  # a skipped step passes the state through
    return _GateGradients(grad_h, inputs, hidden_sums, outputs, tr)


def _split_hidden_sum(gates: np.ndarray, h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """sum over t and n of gates[t, n, g] * (h for the r and z rows, v for the n rows)[t, n, k]."""
    hidden = h.shape[2]
    return np.concatenate([np.einsum("tng,tnk->gk", gates[:, :, :2 * hidden], h),
                           np.einsum("tng,tnk->gk", gates[:, :, 2 * hidden:], v)])


def gru_backward(grad_y: Any, grad_h_n: Any, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
                 b_hh: Any = None, reverse: bool = False, linear_before_reset: bool = True,
                 lengths: Any = None) -> tuple[np.ndarray, ...]:
    """(grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh) of L, in float64:

    grad_x[t] = G_i[t] W_ih;  grad_w_ih = sum_t G_i[t]^T x[t];  grad_b_ih = sum over t and n of G_i
    grad_w_hh = sum_t G_h[t]^T (h[t] for the r and z rows, v[t] for the n rows);  grad_b_hh likewise
    with G_i, G_h the gate gradients of _GateGradients and h[t] the state before step t.
    """
    gg = _gate_gradients(grad_y, grad_h_n, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, linear_before_reset, lengths)
    x, w_ih = _f64(x), _f64(w_ih)
    grad_x = gg.inputs @ w_ih
    grad_w_ih = np.einsum("tng,tnd->gd", gg.inputs, x)
    grad_w_hh = _split_hidden_sum(gg.hidden, gg.trace.h, gg.trace.v)
    return grad_x, gg.grad_h0, grad_w_ih, grad_w_hh, gg.inputs.sum(axis=(0, 1)), gg.hidden.sum(axis=(0, 1))


# ------------------------------------------------------------------- magnitudes, for tolerances
#
# For reference.fp32_rounding_allowance, which scales the sizes of the terms of the sum that gives
# each result by a multiple (at least 13) of the float32 roundoff u: where a result is far smaller
# than its terms, rounding is relative to the terms. Beside the terms' own roundoff, the magnitudes
# count the error of sigmoid and tanh values, which float32 gets to about u absolutely rather than
# relatively: 1 - z (and 1 - r, 1 - n^2) near saturation keeps only z's absolute accuracy, and tanh
# near 0 may too (as 2 sigmoid(2a) - 1). In the allowance's units that is ACTIVATION_SLACK: 1 - a
# counts as 1 - a + slack * a, 1 - n^2 as 1 - n^2 + 2 slack |n|, a tanh value n as |n| + slack,
# and the difference h - n as |h - n| + slack * (|h| + |n| + slack).

ACTIVATION_SLACK = 0.25


def _tanh_value(n: np.ndarray) -> np.ndarray:
    return np.abs(n) + ACTIVATION_SLACK


def _one_minus(a: np.ndarray) -> np.ndarray:
    return 1.0 - a + ACTIVATION_SLACK * a


def _step_ends(lengths: Any, t_len: int, batch: int) -> np.ndarray:
    """(N,) each sequence's step lengths[i] - 1: its last step, or with reverse=True its first."""
    return (np.full(batch, t_len) if lengths is None else np.asarray(lengths)) - 1


def gru_forward_magnitudes(x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None, b_hh: Any = None,
                           reverse: bool = False, linear_before_reset: bool = True,
                           lengths: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(for y, for h_n): the two products of h' = (1 - z) n + z h, as |1 - z| |n| + |z h|."""
    _, _, tr = _run_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reverse, linear_before_reset, lengths)
    t_len, batch, _ = tr.h.shape
    y_mag = np.where(tr.active[..., None], _one_minus(tr.z) * _tanh_value(tr.n) + tr.z * np.abs(tr.h), 0.0)
    last_steps = np.zeros(batch, dtype=np.int64) if reverse else _step_ends(lengths, t_len, batch)
    return y_mag, y_mag[last_steps, np.arange(batch)]


def gru_backward_magnitudes(grad_y: Any, grad_h_n: Any, x: Any, h0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
                            b_hh: Any = None, reverse: bool = False, linear_before_reset: bool = True,
                            lengths: Any = None) -> tuple[np.ndarray, ...]:
    """For (grad_x, grad_h0, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh): gru_backward's sums with
    every factor by its magnitude: grad_x sums 3H products, grad_h0 3H + 1 (in the step the backward
    pass ends with), the weight and bias gradients T*N each. The gate gradients are formed as in
    _gate_gradients, from the exact dL/dh' of each step."""
    gg = _gate_gradients(grad_y, grad_h_n, x, h0, w_ih, w_hh, b_ih, b_hh, reverse, linear_before_reset, lengths)
    tr = gg.trace
    t_len, batch, _ = tr.h.shape
    w_hr, w_hz, w_hn = np.split(np.abs(_f64(w_hh)), 3)
    g, abs_h, r, z, n = np.abs(gg.outputs), np.abs(tr.h), tr.r, tr.z, tr.n
    m_n = g * _one_minus(z) * (1.0 - n * n + 2.0 * ACTIVATION_SLACK * np.abs(n))
    m_z = g * (np.abs(tr.h - n) + ACTIVATION_SLACK * (abs_h + _tanh_value(n))) * z * _one_minus(z)
    if linear_before_reset:
        m_hn = m_n * r
        m_r = m_n * np.abs(tr.hn) * r * _one_minus(r)
        m_via_hn = m_hn @ w_hn
    else:
        m_hn = m_n
        m_rh = m_n @ w_hn
        m_r = m_rh * abs_h * r * _one_minus(r)
        m_via_hn = m_rh * r
    m_inputs = np.concatenate([m_r, m_z, m_n], axis=2)
    m_hidden = np.concatenate([m_r, m_z, m_hn], axis=2)
    m_h_prev = g * z + m_r @ w_hr + m_z @ w_hz + m_via_hn
    first_steps = _step_ends(lengths, t_len, batch) if reverse else np.zeros(batch, dtype=np.int64)
    return (m_inputs @ np.abs(_f64(w_ih)), m_h_prev[first_steps, np.arange(batch)],
            np.einsum("tng,tnd->gd", m_inputs, np.abs(_f64(x))), _split_hidden_sum(m_hidden, abs_h, np.abs(tr.v)),
            m_inputs.sum(axis=(0, 1)), m_hidden.sum(axis=(0, 1)))
