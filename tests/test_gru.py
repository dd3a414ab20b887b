"""GRU forward and backward (ictus.gru / ictus.gru_backward): every CPU kernel variant on a shape
and option sweep, against the float64 reference (tests/gru_reference.py), which is itself proven
here by central finite differences and compared with torch.nn.GRU. Also: training=True returning
the same bits as inference plus a reserve for the backward pass, lengths (packed sequences),
determinism across calls and thread counts, bad arguments, random shapes (hypothesis), and CUDA.

Tolerance: float32 within 1e-5 relative (norm-wise) of float64, plus a rounding allowance (see
`allowance`) from the sizes of the terms of each result's final sum: it matters for the long sums
(weight and bias gradients, T*N products each) and where cancellation leaves a result far smaller
than its terms (grad_h0 of a single step can be 500 times smaller). The recurrence does not amplify
rounding at the weight scale used here (torch's 1/sqrt(fan-in)): a float32 NumPy GRU stays within
about 1e-6 of float64 up to T = 3000, so the long-sequence test keeps the same 1e-5.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import gru_reference as gr
import ictus
import numpy as np
import pytest
import reference as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RTOL = 1e-5
GRADS = ("grad_x", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh")
LENGTHS_KINDS = ("none", "mixed", "full", "ones")


@dataclasses.dataclass(frozen=True)
class Case:
    """Shapes (time T, batch N, input features D, hidden size H) and the options of one call.
    lengths: "none" (not passed), "mixed" (T, 1 and random ones), "full" (all T), "ones" (all 1)."""

    name: str
    t: int
    n: int
    d: int
    h: int
    reverse: bool = False
    linear_before_reset: bool = True
    h0: bool = True
    bias: bool = True
    lengths: str = "none"
    grad_h_n: bool = True

    @property
    def id(self) -> str:
        flags = [("reverse", self.reverse), ("after_reset", not self.linear_before_reset), ("no_h0", not self.h0),
                 ("no_bias", not self.bias), ("no_grad_h_n", not self.grad_h_n)]
        lengths = [] if self.lengths == "none" else [f"lengths_{self.lengths}"]
        return "-".join([self.name, *lengths, *(name for name, on in flags if on)])

    def options(self) -> dict[str, Any]:
        return {"reverse": self.reverse, "linear_before_reset": self.linear_before_reset}


@dataclasses.dataclass
class Inputs:
    x: np.ndarray
    h0: np.ndarray | None
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray | None
    b_hh: np.ndarray | None
    lengths: np.ndarray | None
    grad_y: np.ndarray
    grad_h_n: np.ndarray | None


def draw_lengths(case: Case, rng: np.random.Generator) -> np.ndarray | None:
    if case.lengths == "none":
        return None
    if case.lengths == "full":
        return np.full(case.n, case.t, np.int64)
    if case.lengths == "ones":
        return np.ones(case.n, np.int64)
    lengths = rng.integers(1, case.t + 1, case.n)
    lengths[:2] = [case.t, 1][:case.n]  # the extremes, where the batch holds two sequences
    return lengths


def draw(case: Case, rng: np.random.Generator) -> Inputs:
    """Random inputs; weights at torch's initial scale 1/sqrt(fan-in), so gates are neither all
    saturated nor all linear (as in a trained layer), and the recurrence neither explodes nor dies."""
    def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    t, n, d, h = case.t, case.n, case.d, case.h
    return Inputs(x=normal(t, n, d), h0=normal(n, h) if case.h0 else None,
                  w_ih=normal(3 * h, d, scale=d ** -0.5), w_hh=normal(3 * h, h, scale=h ** -0.5),
                  b_ih=normal(3 * h, scale=0.5) if case.bias else None,
                  b_hh=normal(3 * h, scale=0.5) if case.bias else None,
                  lengths=draw_lengths(case, rng), grad_y=normal(t, n, h),
                  grad_h_n=normal(n, h) if case.grad_h_n else None)


@dataclasses.dataclass
class Expected:
    """The float64 reference results, and the rounding allowance of each (forward, then GRADS)."""

    y: np.ndarray
    h_n: np.ndarray
    grads: tuple[np.ndarray, ...]
    allowances: tuple[float, ...]


def reference_args(case: Case, inp: Inputs) -> tuple[Any, ...]:
    return (inp.x, inp.h0, inp.w_ih, inp.w_hh, inp.b_ih, inp.b_hh, case.reverse, case.linear_before_reset,
            inp.lengths)


# Each term of a final sum also carries the roundings of the elementwise chain that made it (a
# sigmoid or tanh, a difference, up to five products): a few float32 units of roundoff, taken as 8.
CHAIN_ROUNDOFF = 8 * 2.0**-24


def allowance(magnitudes: np.ndarray, terms: int) -> float:
    """What float32 may add to results that are sums of `terms` products of these magnitudes
    (gru_reference's *_magnitudes, which also count the gate values' absolute error): only felt
    where a result is far smaller than its terms, or the sum is long."""
    return ref.fp32_rounding_allowance(magnitudes, terms) + CHAIN_ROUNDOFF * float(np.linalg.norm(magnitudes))


def expected(case: Case, inp: Inputs) -> Expected:
    y, h_n = gr.gru_forward(*reference_args(case, inp))
    grads = gr.gru_backward(inp.grad_y, inp.grad_h_n, *reference_args(case, inp))
    y_mag, h_n_mag = gr.gru_forward_magnitudes(*reference_args(case, inp))
    grad_mags = gr.gru_backward_magnitudes(inp.grad_y, inp.grad_h_n, *reference_args(case, inp))
    sums = case.t * case.n
    grad_terms = (3 * case.h, 3 * case.h + 1, sums, sums, sums, sums)
    allowances = (allowance(y_mag, 2), allowance(h_n_mag, 2),
                  *(allowance(m, terms) for m, terms in zip(grad_mags, grad_terms)))
    return Expected(y, h_n, grads, allowances)


def check_output(a: Any, shape: tuple[int, ...], what: str) -> None:
    assert isinstance(a, np.ndarray), f"{what}: expected a NumPy array, got {type(a)}"
    assert a.dtype == np.float32, f"{what}: dtype {a.dtype}"
    assert a.shape == shape, f"{what}: shape {a.shape} != {shape}"
    assert a.flags.c_contiguous, f"{what}: not C-contiguous"


def skipped_steps(case: Case, lengths: np.ndarray | None) -> np.ndarray:
    """(T, N) bool: the steps t >= lengths[i] that sequence i does not take."""
    if lengths is None:
        return np.zeros((case.t, case.n), bool)
    return np.arange(case.t)[:, None] >= np.asarray(lengths)[None, :]


def run_forward(case: Case, inp: Inputs, training: bool = False) -> tuple[Any, ...]:
    return ictus.gru(inp.x, inp.h0, inp.w_ih, inp.w_hh, inp.b_ih, inp.b_hh, **case.options(), training=training,
                     lengths=inp.lengths)


def run_backward(case: Case, inp: Inputs, reserve: Any, bias: bool | None = None) -> tuple[Any, ...]:
    return ictus.gru_backward(inp.grad_y, inp.grad_h_n, inp.x, inp.h0, inp.w_ih, inp.w_hh, reserve, **case.options(),
                              bias=case.bias if bias is None else bias, lengths=inp.lengths)


def check_against_reference(case: Case, inp: Inputs, want: Expected, label: str, rtol: float = RTOL) -> None:
    """Forward (inference and training) and backward against `want`. Outputs are not poisoned
    (gru has no out=); an element a kernel forgets to write fails as non-finite or as far off."""
    y, h_n = run_forward(case, inp)
    check_output(y, (case.t, case.n, case.h), f"y {label}")
    check_output(h_n, (case.n, case.h), f"h_n {label}")
    ref.assert_close(y, want.y, rtol, f"y {label}", want.allowances[0])
    ref.assert_close(h_n, want.h_n, rtol, f"h_n {label}", want.allowances[1])
    skipped = skipped_steps(case, inp.lengths)
    assert np.all(y[skipped] == 0), f"y {label}: outputs at steps past a sequence's length must be zero"

    result = run_forward(case, inp, training=True)
    assert isinstance(result, tuple) and len(result) == 3, "gru(training=True) must return (y, h_n, reserve)"
    y_train, h_n_train, reserve = result
    assert isinstance(reserve, np.ndarray) and reserve.dtype == np.float32, f"reserve {label}: {type(reserve)}"
    assert np.array_equal(y_train, y), f"y {label}: training=True changes the bits of y"
    assert np.array_equal(h_n_train, h_n), f"h_n {label}: training=True changes the bits of h_n"

    grads = run_backward(case, inp, reserve)
    assert isinstance(grads, tuple) and len(grads) == 6
    shapes = ((case.t, case.n, case.d), (case.n, case.h), inp.w_ih.shape, inp.w_hh.shape, (3 * case.h,),
              (3 * case.h,))
    for name, got, shape, ref_grad, slack in zip(GRADS, grads, shapes, want.grads, want.allowances[2:]):
        if not case.bias and name.startswith("grad_bias"):
            assert got is None, f"{name} {label}: must be None with bias=False"
            continue
        check_output(got, shape, f"{name} {label}")
        ref.assert_close(got, ref_grad, rtol, f"{name} {label}", slack)
    assert np.all(grads[0][skipped] == 0), f"grad_x {label}: must be zero at steps past a sequence's length"


# ------------------------------------------------------------------------------ the sweep

SHAPES = [
    Case("all_ones", 1, 1, 1, 1),
    Case("t1", 1, 3, 5, 7),
    Case("n1_h3", 9, 1, 4, 3),
    Case("h1", 12, 4, 6, 1),
    Case("d1_h8", 10, 3, 1, 8),
    Case("h16", 7, 2, 3, 16),
    Case("primes_h25", 13, 5, 11, 25),
    Case("h33", 9, 4, 17, 33),
    Case("h64", 16, 3, 32, 64),
    Case("t64", 64, 2, 8, 16),
]

# (h0, bias, lengths, grad_h_n): nothing optional given; everything given; lengths with and without the rest
VARIANTS = [(False, False, "none", False), (True, True, "none", True), (True, True, "mixed", True),
            (False, False, "mixed", False)]

SWEEP = [dataclasses.replace(shape, reverse=reverse, linear_before_reset=lbr, h0=h0, bias=bias, lengths=lengths,
                             grad_h_n=grad_h_n)
         for shape in SHAPES for lbr in (True, False) for reverse in (False, True)
         for h0, bias, lengths, grad_h_n in VARIANTS]


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in cases]


@pytest.mark.parametrize("case", params(SWEEP))
def test_sweep(case: Case, isa: str, rng: np.random.Generator) -> None:
    inp = draw(case, rng)
    check_against_reference(case, inp, expected(case, inp), f"[{isa}] {case.id}")


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("lengths", ["full", "ones"])
@pytest.mark.parametrize("shape", params([SHAPES[i] for i in (2, 6, 9)]))
def test_lengths_all_full_or_all_one(shape: Case, lengths: str, reverse: bool, isa: str,
                                     rng: np.random.Generator) -> None:
    case = dataclasses.replace(shape, lengths=lengths, reverse=reverse)
    inp = draw(case, rng)
    check_against_reference(case, inp, expected(case, inp), f"[{isa}] {case.id}")


def test_lengths_int32(isa: str, rng: np.random.Generator) -> None:
    """Any integer dtype is a length: int32 gives the bits of int64."""
    case = dataclasses.replace(SHAPES[6], lengths="mixed", reverse=True)
    inp = draw(case, rng)
    y64, h64, reserve = run_forward(case, inp, training=True)
    grads64 = run_backward(case, inp, reserve)
    inp32 = dataclasses.replace(inp, lengths=inp.lengths.astype(np.int32))
    y32, h32, reserve = run_forward(case, inp32, training=True)
    grads32 = run_backward(case, inp32, reserve)
    for name, a, b in zip(("y", "h_n", *GRADS), (y64, h64, *grads64), (y32, h32, *grads32)):
        assert np.array_equal(a, b), f"{name}: int32 lengths give other bits than int64"


@pytest.mark.parametrize("linear_before_reset", [True, False], ids=["before_reset", "after_reset"])
def test_bias_gradients_without_forward_biases(linear_before_reset: bool, isa: str, rng: np.random.Generator) -> None:
    """bias=True after a forward call without biases: the gradients of (zero) biases."""
    case = dataclasses.replace(SHAPES[7], bias=False, linear_before_reset=linear_before_reset, lengths="mixed")
    inp = draw(case, rng)
    want = expected(case, inp)
    _, _, reserve = run_forward(case, inp, training=True)
    grads = run_backward(case, inp, reserve, bias=True)
    for name, got, ref_grad, slack in zip(GRADS, grads, want.grads, want.allowances[2:]):
        check_output(got, ref_grad.shape, name)
        ref.assert_close(got, ref_grad, RTOL, f"{name} [{isa}]", slack)


@pytest.mark.parametrize("case", params([Case("long", 1000, 3, 7, 25, lengths="mixed"),
                                         Case("long", 1000, 3, 7, 25, reverse=True, linear_before_reset=False)]))
def test_long_sequence_every_isa(case: Case, rng: np.random.Generator) -> None:
    """T = 1000: rounding does not grow along the recurrence (see the module docstring), and the
    weight gradients sum 3000 products each (their allowance covers that)."""
    inp = draw(case, rng)
    want = expected(case, inp)
    for isa in ictus.cpu_isas():
        with ictus.use_cpu_isa(isa):
            check_against_reference(case, inp, want, f"[{isa}] {case.id}")


# ------------------------------------------------------------------- determinism and inputs


@pytest.mark.parametrize("case", params([dataclasses.replace(SHAPES[8], lengths="mixed", reverse=True),
                                         dataclasses.replace(SHAPES[9], linear_before_reset=False)]))
def test_bitwise_deterministic(case: Case, isa: str, restore_num_threads: int, rng: np.random.Generator) -> None:
    """Same bits for repeated calls and for 1 and 2 threads (forward, reserve and all gradients)."""
    inp = draw(case, rng)
    runs = []
    for threads in (1, 2, 2, 1):
        ictus.set_num_threads(threads)
        y, h_n, reserve = run_forward(case, inp, training=True)
        runs.append((threads, [y, h_n, reserve, *run_backward(case, inp, reserve)]))
    first_threads, first = runs[0]
    for threads, other in runs[1:]:
        for name, a, b in zip(("y", "h_n", "reserve", *GRADS), first, other):
            assert np.array_equal(a, b), f"{name} differs between a call with {first_threads} and {threads} thread(s)"


def test_inputs_not_modified(isa: str, rng: np.random.Generator) -> None:
    case = dataclasses.replace(SHAPES[6], lengths="mixed")
    inp = draw(case, rng)
    before = {k: None if v is None else v.copy() for k, v in vars(inp).items()}
    _, _, reserve = run_forward(case, inp, training=True)
    reserve_before = reserve.copy()
    run_backward(case, inp, reserve)
    for name, value in vars(inp).items():
        np.testing.assert_array_equal(value, before[name], err_msg=f"{name} was modified")
    np.testing.assert_array_equal(reserve, reserve_before, err_msg="gru_backward modified reserve")


# --------------------------------------------------------------------------------- errors

T, N, D, H = 4, 3, 5, 6


def f32(*shape: int) -> np.ndarray:
    return np.full(shape, 0.5, np.float32)


def valid_forward_args() -> dict[str, Any]:
    return {"x": f32(T, N, D), "h0": f32(N, H), "weight_ih": f32(3 * H, D), "weight_hh": f32(3 * H, H),
            "bias_ih": f32(3 * H), "bias_hh": f32(3 * H), "lengths": np.array([4, 1, 2])}


FORWARD_ERRORS = [
    *[pytest.param({arg: np.ones(shape)}, TypeError, "float32", id=f"{arg}_float64")
      for arg, shape in (("x", (T, N, D)), ("h0", (N, H)), ("weight_ih", (3 * H, D)), ("weight_hh", (3 * H, H)),
                         ("bias_ih", (3 * H,)), ("bias_hh", (3 * H,)))],
    pytest.param({"weight_ih": f32(3 * H - 3, D)}, ValueError, "weight_ih", id="weight_ih_rows_not_3H"),
    pytest.param({"weight_hh": f32(3 * H + 3, H)}, ValueError, "weight_(ih|hh)", id="weight_hh_rows_not_3H"),
    pytest.param({"x": f32(T, N, D + 1)}, ValueError, r"weight_ih|\bx\b", id="x_features_not_weight_ih_columns"),
    pytest.param({"h0": f32(N + 1, H)}, ValueError, "h0", id="h0_batch"),
    pytest.param({"h0": f32(N, H + 1)}, ValueError, "h0", id="h0_hidden_size"),
    pytest.param({"bias_ih": f32(3 * H + 1)}, ValueError, "bias_ih", id="bias_ih_length"),
    pytest.param({"bias_hh": f32(3 * H - 1)}, ValueError, "bias_hh", id="bias_hh_length"),
    pytest.param({"lengths": np.array([4, 0, 2])}, ValueError, "lengths", id="lengths_zero"),
    pytest.param({"lengths": np.array([4, -1, 2])}, ValueError, "lengths", id="lengths_negative"),
    pytest.param({"lengths": np.array([4, T + 1, 2])}, ValueError, "lengths", id="lengths_over_T"),
    pytest.param({"lengths": np.array([4, 1])}, ValueError, "lengths", id="lengths_too_few"),
    pytest.param({"lengths": np.array([4, 1, 2, 3])}, ValueError, "lengths", id="lengths_too_many"),
    pytest.param({"x": f32(N, D)}, ValueError, r"\bx\b", id="x_rank2"),
    pytest.param({"x": f32(1, T, N, D)}, ValueError, r"\bx\b", id="x_rank4"),
    # torch's (layers, N, H) h0 is refused rather than read as something else
    pytest.param({"h0": f32(1, N, H)}, ValueError, "h0", id="h0_rank3"),
    pytest.param({"weight_ih": f32(1, 3 * H, D)}, ValueError, "weight_ih", id="weight_ih_rank3"),
    pytest.param({"weight_hh": f32(3 * H * H)}, ValueError, "weight_hh", id="weight_hh_rank1"),
    pytest.param({"bias_ih": f32(1, 3 * H)}, ValueError, "bias_ih", id="bias_ih_rank2"),
]


@pytest.mark.parametrize("changes,exc,match", FORWARD_ERRORS)
def test_forward_errors(changes: dict[str, Any], exc: type[Exception], match: str) -> None:
    args = valid_forward_args() | changes
    x = args.pop("x")
    with pytest.raises(exc, match=match):
        ictus.gru(x, **args)


BACKWARD_ERRORS = [
    pytest.param({"grad_y": np.ones((T, N, H))}, TypeError, "float32", id="grad_y_float64"),
    pytest.param({"grad_h_n": np.ones((N, H))}, TypeError, "float32", id="grad_h_n_float64"),
    pytest.param({"grad_y": f32(T, N, H + 1)}, ValueError, "grad_y", id="grad_y_hidden_size"),
    pytest.param({"grad_y": f32(T - 1, N, H)}, ValueError, "grad_y", id="grad_y_length"),
    pytest.param({"grad_h_n": f32(N + 1, H)}, ValueError, "grad_h_n", id="grad_h_n_batch"),
    pytest.param({"x": f32(T, N, D + 1)}, ValueError, r"weight_ih|\bx\b", id="x_features_not_weight_ih_columns"),
    pytest.param({"h0": f32(N + 1, H)}, ValueError, "h0", id="h0_batch"),
    pytest.param({"lengths": np.array([4, 0, 2])}, ValueError, "lengths", id="lengths_zero"),
    pytest.param({"lengths": np.array([4, T + 1, 2])}, ValueError, "lengths", id="lengths_over_T"),
]


@pytest.mark.parametrize("changes,exc,match", BACKWARD_ERRORS)
def test_backward_errors(changes: dict[str, Any], exc: type[Exception], match: str) -> None:
    fwd = valid_forward_args()
    _, _, reserve = ictus.gru(fwd.pop("x"), **fwd, training=True)
    args = {"grad_y": f32(T, N, H), "grad_h_n": f32(N, H), "x": f32(T, N, D), "h0": f32(N, H),
            "weight_ih": f32(3 * H, D), "weight_hh": f32(3 * H, H), "reserve": reserve,
            "lengths": np.array([4, 1, 2])} | changes
    positional = [args.pop(k) for k in ("grad_y", "grad_h_n", "x", "h0", "weight_ih", "weight_hh", "reserve")]
    with pytest.raises(exc, match=match):
        ictus.gru_backward(*positional, **args)


# ----------------------------------------------------------------- random shapes (hypothesis)


@st.composite
def gru_cases(draw_from: st.DrawFn) -> Case:
    return Case("hyp", draw_from(st.integers(1, 20)), draw_from(st.integers(1, 5)), draw_from(st.integers(1, 20)),
                draw_from(st.integers(1, 40)), reverse=draw_from(st.booleans()),
                linear_before_reset=draw_from(st.booleans()), h0=draw_from(st.booleans()),
                bias=draw_from(st.booleans()), lengths=draw_from(st.sampled_from(LENGTHS_KINDS)),
                grad_h_n=draw_from(st.booleans()))


# Random draws include single-unit layers (H = D = N = 1), where one output element is the whole
# norm and 16 recurrent steps amplify float32 rounding to ~1.5e-5 relative on every variant,
# scalar included (seen once in ~800 draws); the fixed sweep above keeps 1e-5.
RANDOM_RTOL = 1e-4


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=gru_cases(), seed=st.integers(0, 2**32 - 1))
def test_random_shapes_every_isa(case: Case, seed: int) -> None:
    inp = draw(case, np.random.default_rng(seed))
    want = expected(case, inp)
    for isa in ictus.cpu_isas():
        with ictus.use_cpu_isa(isa):
            check_against_reference(case, inp, want, f"[{isa}] {case}", RANDOM_RTOL)


# ------------------------------------------------- the reference: torch and finite differences


def torch_gru(torch: Any, case: Case, inp: Inputs) -> tuple[np.ndarray, ...]:
    """torch.nn.GRU in float64: (y, h_n, *grads) for L = sum(grad_y * y) + sum(grad_h_n * h_n).
    reverse is the backward direction of a bidirectional GRU (whose forward direction gets no
    gradient, so it adds nothing to grad_x); lengths go through pack_padded_sequence."""
    t, n, h = case.t, case.n, case.h
    directions = 2 if case.reverse else 1
    gru = torch.nn.GRU(case.d, h, bias=case.bias, bidirectional=case.reverse, dtype=torch.float64)
    suffix = "_reverse" if case.reverse else ""
    weights = {"weight_ih": inp.w_ih, "weight_hh": inp.w_hh, "bias_ih": inp.b_ih, "bias_hh": inp.b_hh}
    tensors = {}
    with torch.no_grad():
        for name, value in weights.items():
            if value is not None:
                tensors[name] = getattr(gru, f"{name}_l0{suffix}")
                tensors[name].copy_(torch.from_numpy(value.astype(np.float64)))
    x = torch.tensor(inp.x, dtype=torch.float64, requires_grad=True)
    h0 = torch.zeros((directions, n, h), dtype=torch.float64)
    if inp.h0 is not None:
        h0[-1] = torch.from_numpy(inp.h0.astype(np.float64))
    h0.requires_grad_(True)
    if inp.lengths is None:
        y, h_n = gru(x, h0)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(inp.lengths), enforce_sorted=False)
        y_packed, h_n = gru(packed, h0)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, total_length=t)
    y, h_n = y[:, :, (directions - 1) * h:], h_n[-1]
    loss = (y * torch.from_numpy(inp.grad_y.astype(np.float64))).sum()
    if inp.grad_h_n is not None:
        loss = loss + (h_n * torch.from_numpy(inp.grad_h_n.astype(np.float64))).sum()
    loss.backward()
    grads = [x.grad, h0.grad[-1], tensors["weight_ih"].grad, tensors["weight_hh"].grad]
    grads += [tensors["bias_ih"].grad, tensors["bias_hh"].grad] if case.bias else [None, None]
    return (y.detach().numpy(), h_n.detach().numpy(),
            *(None if g is None else g.numpy() for g in grads))


TORCH_CASES = [Case("torch", 6, 4, 3, 5, reverse=reverse, h0=given, bias=given, lengths=lengths, grad_h_n=given)
               for reverse in (False, True) for lengths in ("none", "mixed") for given in (True, False)]


@pytest.mark.parametrize("case", params(TORCH_CASES))
def test_reference_matches_torch(case: Case, rng: np.random.Generator) -> None:
    """torch.nn.GRU is linear_before_reset=True; its packed sequences define lengths (reversed too)."""
    torch = pytest.importorskip("torch")
    inp = draw(case, rng)
    y, h_n, *torch_grads = torch_gru(torch, case, inp)
    ry, rh = gr.gru_forward(*reference_args(case, inp))
    ref.assert_close(ry, y, 1e-12, "reference y vs torch")
    ref.assert_close(rh, h_n, 1e-12, "reference h_n vs torch")
    for name, got, want in zip(GRADS, gr.gru_backward(inp.grad_y, inp.grad_h_n, *reference_args(case, inp)),
                               torch_grads):
        if want is not None:  # torch has no bias gradients without biases
            ref.assert_close(got, want, 1e-12, f"reference {name} vs torch")


FD_CASES = [Case("fd", 4, 3, 2, 3, reverse=reverse, linear_before_reset=lbr, lengths=lengths)
            for lbr in (True, False) for reverse in (False, True) for lengths in ("none", "mixed")]


@pytest.mark.parametrize("case", params(FD_CASES))
def test_reference_gradients_by_finite_differences(case: Case, rng: np.random.Generator) -> None:
    """Proves the reference backward, in particular for linear_before_reset=False (torch has no such
    GRU): central differences of L = sum(grad_y * y) + sum(grad_h_n * h_n) in float64."""
    inp = draw(case, rng)
    wrt = {"grad_x": "x", "grad_h0": "h0", "grad_weight_ih": "w_ih", "grad_weight_hh": "w_hh",
           "grad_bias_ih": "b_ih", "grad_bias_hh": "b_hh"}
    point = {name: getattr(inp, name).astype(np.float64) for name in wrt.values()}

    def loss(**changed: np.ndarray) -> float:
        args = point | changed
        y, h_n = gr.gru_forward(args["x"], args["h0"], args["w_ih"], args["w_hh"], args["b_ih"], args["b_hh"],
                                case.reverse, case.linear_before_reset, inp.lengths)
        return float(np.sum(inp.grad_y * y) + np.sum(inp.grad_h_n * h_n))

    step = 1e-5  # truncation error ~ step**2, rounding ~ 1e-16 / step: both far below the tolerance
    grads = gr.gru_backward(inp.grad_y, inp.grad_h_n, *reference_args(case, inp))
    for name, got in zip(GRADS, grads):
        arg = point[wrt[name]]
        numeric = np.zeros_like(arg)
        for idx in np.ndindex(arg.shape):
            plus, minus = arg.copy(), arg.copy()
            plus[idx] += step
            minus[idx] -= step
            numeric[idx] = (loss(**{wrt[name]: plus}) - loss(**{wrt[name]: minus})) / (2 * step)
        ref.assert_close(got, numeric, 1e-7, f"reference {name} vs finite differences")

    # the magnitudes (for the tolerances) bound the results they stand for
    results = (*gr.gru_forward(*reference_args(case, inp)), *grads)
    magnitudes = (*gr.gru_forward_magnitudes(*reference_args(case, inp)),
                  *gr.gru_backward_magnitudes(inp.grad_y, inp.grad_h_n, *reference_args(case, inp)))
    for name, result, magnitude in zip(("y", "h_n", *GRADS), results, magnitudes, strict=True):
        assert np.all(np.abs(result) <= magnitude * (1 + 1e-12)), f"{name}: a magnitude is smaller than its result"


@pytest.mark.parametrize("linear_before_reset", [True, False], ids=["before_reset", "after_reset"])
def test_reference_by_hand(linear_before_reset: bool) -> None:
    """Zero weights and b_hn = 1: r = z = sigmoid(0) = 1/2, and n = tanh(r * 1) before the reset
    or tanh(0 + 1) after it, so h' = n/2 + h/2. Two sequences of lengths 2 and 1, h0 = 1."""
    n = np.tanh(0.5) if linear_before_reset else np.tanh(1.0)
    b_hh = np.array([0.0, 0.0, 1.0])
    zeros = {"x": np.zeros((2, 2, 1)), "h0": np.ones((2, 1)), "w_ih": np.zeros((3, 1)), "w_hh": np.zeros((3, 1)),
             "b_ih": np.zeros(3), "b_hh": b_hh, "linear_before_reset": linear_before_reset}
    lengths = np.array([2, 1])
    step1 = n / 2 + 1 / 2
    step2 = n / 2 + step1 / 2
    y, h_n = gr.gru_forward(**zeros, lengths=lengths)
    np.testing.assert_allclose(y[:, :, 0], [[step1, step1], [step2, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(h_n[:, 0], [step2, step1], rtol=1e-15)
    # reversed, sequence 0 takes step 1 then step 0; sequence 1 only step 0
    y, h_n = gr.gru_forward(**zeros, lengths=lengths, reverse=True)
    np.testing.assert_allclose(y[:, :, 0], [[step2, step1], [step1, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(h_n[:, 0], [step2, step1], rtol=1e-15)


# ----------------------------------------------------------------------------------- CUDA


def to_gpu(cp: Any, inp: Inputs) -> Inputs:
    """The arrays on the GPU; lengths stay a host array, as torch's pack_padded_sequence wants them."""
    on_gpu = {k: v if v is None or k == "lengths" else cp.asarray(v) for k, v in vars(inp).items()}
    return Inputs(**on_gpu)


def to_host(cp: Any, a: Any, what: str) -> np.ndarray | None:
    if a is None:
        return None
    assert isinstance(a, cp.ndarray), f"{what}: expected a CuPy array, got {type(a)}"
    assert a.dtype == cp.float32 and a.flags.c_contiguous, f"{what}: dtype {a.dtype}, C-contiguous {a.flags}"
    return cp.asnumpy(a)


# Both forward paths: H <= 62 runs the persistent kernel (weights in shared memory), larger H a
# GEMM and a gate kernel per step; both reset conventions, reverse, lengths, h0 and biases.
CUDA_CASES = [dataclasses.replace(case, reverse=reverse, linear_before_reset=lbr, h0=given, bias=given,
                                  lengths=lengths, grad_h_n=given)
              for case, reverse, lbr, given, lengths in (
                  (SHAPES[0], False, True, True, "none"), (SHAPES[4], True, False, False, "mixed"),
                  (SHAPES[6], True, True, True, "mixed"), (SHAPES[8], False, False, True, "none"),
                  (SHAPES[9], False, True, False, "ones"), (Case("h70", 11, 3, 9, 70), True, True, True, "mixed"),
                  (Case("h70_after", 11, 3, 9, 70), False, False, False, "full"))]


@pytest.mark.cuda
@pytest.mark.parametrize("case", params(CUDA_CASES))
def test_cuda_matches_reference(case: Case, cp: Any, rng: np.random.Generator) -> None:
    """CuPy inputs give CuPy results within the NumPy path's tolerance of the float64 reference,
    the same bits with training=True, and zeros past each length."""
    inp = draw(case, rng)
    want = expected(case, inp)
    gpu = to_gpu(cp, inp)
    y, h_n = (to_host(cp, a, name) for name, a in zip(("y", "h_n"), run_forward(case, gpu), strict=True))
    y_train, h_n_train, reserve = run_forward(case, gpu, training=True)
    assert np.array_equal(to_host(cp, y_train, "y"), y) and np.array_equal(to_host(cp, h_n_train, "h_n"), h_n), (
        "training=True changes the bits of y or h_n on the GPU")
    ref.assert_close(y, want.y, RTOL, f"y [cuda] {case.id}", want.allowances[0])
    ref.assert_close(h_n, want.h_n, RTOL, f"h_n [cuda] {case.id}", want.allowances[1])
    skipped = skipped_steps(case, inp.lengths)
    assert np.all(y[skipped] == 0), "y [cuda]: outputs at steps past a sequence's length must be zero"
    grads = [to_host(cp, g, name) for name, g in zip(GRADS, run_backward(case, gpu, reserve), strict=True)]
    for name, got, ref_grad, slack in zip(GRADS, grads, want.grads, want.allowances[2:], strict=True):
        if case.bias or not name.startswith("grad_bias"):
            ref.assert_close(got, ref_grad, RTOL, f"{name} [cuda] {case.id}", slack)
    assert np.all(grads[0][skipped] == 0), "grad_x [cuda]: must be zero at steps past a sequence's length"


@pytest.mark.cuda
@pytest.mark.parametrize("hidden", [25, 70])
def test_cuda_deterministic(hidden: int, cp: Any, rng: np.random.Generator) -> None:
    case = dataclasses.replace(Case("det", 12, 4, 9, hidden), lengths="mixed", reverse=True)
    gpu = to_gpu(cp, draw(case, rng))
    runs = []
    for _ in range(3):
        y, h_n, reserve = run_forward(case, gpu, training=True)
        runs.append([cp.asnumpy(a) for a in (y, h_n, reserve, *run_backward(case, gpu, reserve))])
    for other in runs[1:]:
        for name, a, b in zip(("y", "h_n", "reserve", *GRADS), runs[0], other, strict=True):
            assert np.array_equal(a, b), f"{name} differs between two identical CUDA calls"
