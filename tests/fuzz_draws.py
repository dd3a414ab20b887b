"""What the fuzz tests (tests/test_fuzz.py) draw, for every op alike: sizes that favour 1 and primes,
data in any memory layout (the same values in Fortran order, strided, reversed, unaligned or
read-only), NaN and infinities placed in it, out= arrays poisoned with NaN, a call held as data
(`Call`) so that a valid draw can be broken in one place, and the check that a broken call raises
TypeError or ValueError naming its op.

Array contents come from a NumPy generator seeded by hypothesis (drawing thousands of floats one by
one through hypothesis would be slow); hypothesis draws the shapes, options and layouts, and shrinks
them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from fuzz_settings import counted
from hypothesis import strategies as st

LAYOUTS = ("c", "c", "fortran", "strided", "reversed", "unaligned", "readonly")
# Two of three draws are finite: their results are checked against the references to 1e-5.
SPECIALS = ("finite", "finite", "finite", "finite", "finite", "finite", "nan", "inf", "mixed")


def sizes(high: int) -> st.SearchStrategy[int]:
    """1 .. high, with 1 and the primes up to high drawn more often."""
    primes = [p for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37) if p <= high]
    return st.one_of(st.sampled_from([1, *primes]), st.integers(1, high))


def poisoned(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """An out= array that fails a check wherever a kernel forgets to write: NaN, or -7 for indices."""
    return np.full(shape, -7 if np.dtype(dtype).kind == "i" else np.nan, dtype)


def laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """An array with a's values in another memory layout (C-contiguous a in, a view or copy out)."""
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "strided":  # every other element of a buffer twice as long, the gaps poisoned
        buf = poisoned((*a.shape[:-1], 2 * a.shape[-1]), a.dtype)
        buf[..., ::2] = a
        return buf[..., ::2]
    if layout == "reversed":  # negative strides along every axis
        flipped = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[flipped])[flipped]
    if layout == "unaligned":  # C-contiguous, one byte past an aligned address
        buf = np.zeros(a.nbytes + 1, np.uint8)
        out = buf[1:].view(a.dtype).reshape(a.shape)
        out[...] = a
        return out
    if layout == "readonly":
        out = a.copy()
        out.flags.writeable = False
        return out
    return a


def with_specials(a: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """a with a few elements (at least one, about 10%) set to NaN, +-inf or a mix, by `kind`."""
    if kind == "finite":
        return a
    a = a.copy()
    where = rng.random(a.shape) < 0.1
    where.flat[rng.integers(a.size)] = True
    values = {"nan": [np.nan], "inf": [np.inf, -np.inf], "mixed": [np.nan, np.inf, -np.inf]}[kind]
    a[where] = rng.choice(np.array(values, np.float32), int(where.sum()))
    return a


@dataclasses.dataclass
class Data:
    """Random arrays for one example: hypothesis draws each array's layout, the seeded generator
    its values (scale times standard normal, float32, with `special` values placed in)."""

    draw: st.DrawFn
    rng: np.random.Generator

    @classmethod
    def of(cls, hd: st.DataObject) -> Data:
        return cls(hd.draw, np.random.default_rng(hd.draw(st.integers(0, 2**32 - 1), label="seed")))

    def values(self, *shape: int, scale: float = 1.0, special: str = "finite") -> np.ndarray:
        """C-contiguous values, for the references."""
        a = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return with_specials(a, special, self.rng)

    def layout(self, a: np.ndarray) -> np.ndarray:
        """a's values in a drawn memory layout, for the op."""
        return laid_out(np.ascontiguousarray(a), self.draw(st.sampled_from(LAYOUTS)))


# ------------------------------------------------------------------------- broken calls


@dataclasses.dataclass
class Call:
    """One call of an ictus op held as data: `fn(*positional args, **the others)`."""

    op: str
    fn: Callable[..., Any]
    args: dict[str, Any]
    positional: tuple[str, ...]

    def __call__(self) -> Any:
        pos = [self.args[k] for k in self.positional]
        return counted(self.fn, *pos, **{k: v for k, v in self.args.items() if k not in self.positional})

    def with_(self, **changes: Any) -> Call:
        return dataclasses.replace(self, args=self.args | changes)

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            if isinstance(v, np.ndarray):
                return f"array{v.shape} {v.dtype} strides={v.strides}"
            if isinstance(v, (tuple, list)) and any(isinstance(e, np.ndarray) for e in v):
                return f"{type(v).__name__}({', '.join(show(e) for e in v)})"
            return repr(v)[:80]

        return f"{self.op}({', '.join(f'{k}={show(v)}' for k, v in self.args.items())})"


def expect_error(call: Call, exc: type[Exception] | tuple[type[Exception], ...], why: str) -> None:
    """The call raises `exc` (TypeError and/or ValueError) whose message starts with "<op>:"; any
    other exception propagates and fails the test with its own traceback."""
    try:
        result = call()
    except (TypeError, ValueError) as err:
        assert isinstance(err, exc), f"{why}: {call!r} raised {type(err).__name__} ({err}), expected {exc}"
        assert str(err).startswith(f"{call.op}:"), f"{why}: the message does not name {call.op}: {err!r}"
        return
    raise AssertionError(f"{why}: {call!r} returned {type(result).__name__} instead of raising")


# Objects that are not arrays, for any array argument (None only where the argument is required).
NOT_ARRAYS = ([0.5, 1.5], 1.0, "x", {"shape": (2, 3)}, object(), b"\x00\x00\x80\x3f")
WRONG_DTYPES = ("float64", "int32", "float16", "bool")


@st.composite
def generic_break(draw: st.DrawFn, call: Call, arrays: tuple[str, ...], required: tuple[str, ...],
                  fixed_rank: bool = True) -> tuple[Call, type[Exception], str]:
    """call with one of its float32 `arrays` broken in a way every op refuses: another dtype, a
    rank one more or one less, an empty dimension, or an object that is not an array (None for a
    `required` one). fixed_rank=False: the op takes any rank (no rank change drawn)."""
    name = draw(st.sampled_from(arrays))
    a = np.ascontiguousarray(call.args[name])
    kinds = ["dtype", "empty", "not_array"] + (["rank"] if fixed_rank else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "dtype":
        dtype = draw(st.sampled_from(WRONG_DTYPES))
        return call.with_(**{name: a.astype(dtype)}), TypeError, f"{name} as {dtype}"
    if kind == "empty":
        axis = draw(st.integers(0, a.ndim - 1))
        shape = tuple(0 if i == axis else s for i, s in enumerate(a.shape))
        return call.with_(**{name: np.zeros(shape, np.float32)}), ValueError, f"{name} of shape {shape}"
    if kind == "rank":
        bad = a[None] if draw(st.booleans()) or a.ndim == 1 else a.reshape(*a.shape[:-2], -1)
        return call.with_(**{name: bad}), ValueError, f"{name} of rank {bad.ndim}"
    candidates = list(NOT_ARRAYS) + ([None] if name in required else [])
    obj = draw(st.sampled_from(candidates))
    return call.with_(**{name: obj}), TypeError, f"{name} = {obj!r}"


@st.composite
def grown(draw: st.DrawFn, call: Call, axes: list[tuple[str, int]]) -> tuple[Call, type[Exception], str]:
    """call with one array's axis (from `axes`, each of which must then mismatch) one longer."""
    name, axis = draw(st.sampled_from(axes))
    a = np.ascontiguousarray(call.args[name])
    shape = tuple(s + 1 if i == axis else s for i, s in enumerate(a.shape))
    return call.with_(**{name: np.full(shape, 0.5, a.dtype)}), ValueError, f"{name} grown to {shape}"


@st.composite
def bad_out(draw: st.DrawFn, call: Call, like: np.ndarray,
            inputs: tuple[str, ...]) -> tuple[Call, Any, type[Exception] | tuple[type[Exception], ...], str]:
    """(call, out): an out= array that the call must refuse, for a result shaped like `like`: a
    wrong shape, rank or dtype, a strided or read-only array, a list, or (float32 results) an array
    sharing one element with one of the `inputs` (then the call reads that input from a buffer)."""
    kinds = ["shape", "rank", "dtype", "strided", "readonly", "list"] + (["overlap"] if like.dtype == np.float32 else [])
    kind = draw(st.sampled_from(kinds))
    shape, dtype = like.shape, like.dtype
    if kind == "strided" and max(shape) == 1:
        kind = "shape"  # a one-element view is contiguous whatever its strides
    out: Any = np.zeros(shape, dtype)
    exc: type[Exception] | tuple[type[Exception], ...] = ValueError
    if kind == "shape":
        axis = draw(st.integers(0, len(shape) - 1))
        out = np.zeros(tuple(s + 1 if i == axis else s for i, s in enumerate(shape)), dtype)
    elif kind == "rank":
        out = np.zeros((*shape, 1), dtype)
    elif kind == "dtype":
        out, exc = np.zeros(shape, np.float64 if dtype == np.float32 else np.float32), TypeError
    elif kind == "strided":
        axis = next(i for i, s in enumerate(shape) if s > 1)
        index = tuple(slice(None, None, 2) if i == axis else slice(None) for i in range(len(shape)))
        out = np.zeros(tuple(2 * s if i == axis else s for i, s in enumerate(shape)), dtype)[index]
    elif kind == "readonly":
        out.flags.writeable = False
    elif kind == "list":
        out, exc = out.tolist(), (TypeError, ValueError)
    else:
        name = draw(st.sampled_from(inputs))
        a = np.ascontiguousarray(call.args[name])
        buf = np.zeros(a.size + like.size, np.float32)
        buf[:a.size] = a.ravel()
        call = call.with_(**{name: buf[:a.size].reshape(a.shape)})
        out, kind = buf[a.size - 1:a.size - 1 + like.size].reshape(shape), f"overlap with {name}"
    return call, out, exc, f"out: {kind}"
