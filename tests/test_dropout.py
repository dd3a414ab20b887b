"""ictus.dropout: every CPU variant (and CUDA where present) against a float64 NumPy reference of
its counter-based bits, element by element, on sizes around the vector widths and the threads'
chunks, outputs poisoned first; the statistics of the masks; NaN and infinities as torch treats
them; the bad arguments; and nn.Dropout / nn.SpatialDropout1d on the kernel."""
from __future__ import annotations

from collections.abc import Callable

import ictus
import numpy as np
import pytest
from reference import assert_elementwise, poisoned

SIZES = [1, 7, 15, 16, 17, 31, 64, 127, 16 * 1024 - 1, 16 * 1024 + 1, 3 * 16 * 1024 + 5]
PROBABILITIES = [0.0, 0.15, 0.5, 0.9, 1 - 2 ** -30]
SEEDS = [0, 1, 2 ** 32 - 1, 2 ** 32, 0x9E3779B97F4A7C15, 2 ** 64 - 1]
MASK32 = np.uint64(0xFFFFFFFF)


def mix32(x: np.ndarray) -> np.ndarray:
    """Wellons' lowbias32 on uint64 arrays holding 32-bit values."""
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x7FEB352D)) & MASK32
    x = x ^ (x >> np.uint64(15))
    x = (x * np.uint64(0x846CA68B)) & MASK32
    return x ^ (x >> np.uint64(16))


def keep_reference(n: int, p: float, seed: int) -> np.ndarray:
    """Which of n elements dropout keeps (common/dropout_bits.h, written out again)."""
    index = np.arange(n, dtype=np.uint64)
    seed_low, seed_high = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    block_key = (seed_high + np.uint64(0x9E3779B9) * (index >> np.uint64(32))) & MASK32
    bits = mix32(mix32((index & MASK32) ^ seed_low) ^ block_key)
    threshold = min(int(p * 2 ** 32 + 0.5), 2 ** 32 - 1)
    return bits >= np.uint64(threshold)


def dropout_reference(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    keep = keep_reference(x.size, p, seed).reshape(x.shape)
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in torch
        return x.astype(np.float64) * np.where(keep, 1 / (1 - p), 0.0)


def assert_matches(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    # x * float32(1 / (1 - p)): one rounding of the scale and one of the product
    assert_elementwise(got, ref, what, rtol=2.5e-7)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("p", PROBABILITIES)
def test_dropout_matches_reference(isa: str, n: int, p: float, rng: np.random.Generator) -> None:
    x = rng.uniform(-2, 2, n).astype(np.float32)
    seed = int(rng.integers(2 ** 63)) * 2 + 1
    y = ictus.dropout(x, p, seed, out=poisoned(x.shape))
    assert_matches(y, dropout_reference(x, p, seed), f"{isa} dropout n={n} p={p} seed={seed}")


@pytest.mark.parametrize("seed", SEEDS)
def test_dropout_seeds_at_the_edges(isa: str, seed: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 5, 1001)).astype(np.float32)
    assert_matches(ictus.dropout(x, 0.3, seed), dropout_reference(x, 0.3, seed), f"{isa} dropout seed={seed}")


def test_dropout_special_values_give_torchs_results(isa: str) -> None:
    """torch multiplies by the mask: a dropped NaN or infinity is NaN, a kept one stays."""
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 3.0] * 40, np.float32)
    assert_matches(ictus.dropout(x, 0.5, 99), dropout_reference(x, 0.5, 99), f"{isa} special values")


def test_dropout_statistics(isa: str) -> None:
    """Drop rate within 5 standard deviations of p; masks of neighbouring seeds and of neighbouring
    elements uncorrelated (|r| < 5 / sqrt(n))."""
    n, p = 1_000_003, 0.15
    ones = np.ones(n, np.float32)
    masks = [ictus.dropout(ones, p, seed) != 0 for seed in (1, 2, 2 ** 32 + 1)]
    for keep in masks:
        assert abs((1 - keep.mean()) - p) < 5 * np.sqrt(p * (1 - p) / n)
    bound = 5 / np.sqrt(n)
    for a, b in ((masks[0], masks[1]), (masks[0], masks[2]), (masks[0][1:], masks[0][:-1]),
                 (masks[0][16:], masks[0][:-16])):
        assert abs(np.corrcoef(a, b)[0, 1]) < bound


def test_dropout_is_deterministic_across_threads(restore_num_threads: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(5 * 16 * 1024 + 3).astype(np.float32)
    ictus.set_num_threads(1)
    one = ictus.dropout(x, 0.4, 5)
    ictus.set_num_threads(2)
    assert np.array_equal(ictus.dropout(x, 0.4, 5), one)


def test_every_variant_drops_the_same_elements(rng: np.random.Generator) -> None:
    x = rng.standard_normal(3 * 16 * 1024 + 17).astype(np.float32)
    results = {}
    for isa in ictus.cpu_isas():
        with ictus.use_cpu_isa(isa):
            results[isa] = ictus.dropout(x, 0.25, 77)
    for isa, y in results.items():
        assert np.array_equal(y, results["scalar"]), isa


def test_kernel_name_follows_the_isa(isa: str) -> None:
    assert ictus.kernel_name("dropout") == ("dropout_scalar" if isa in ("scalar", "portable") else f"dropout_{isa}")


def test_non_contiguous_input_is_read_as_its_values(rng: np.random.Generator) -> None:
    x = rng.standard_normal((6, 30)).astype(np.float32)[:, ::3]
    assert_matches(ictus.dropout(x, 0.5, 3), dropout_reference(np.ascontiguousarray(x), 0.5, 3), "strided view")


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda x: ictus.dropout(x.astype(np.float64), 0.5, 1), TypeError, r"dropout: x must be float32.*astype"),
    (lambda x: ictus.dropout([1.0, 2.0], 0.5, 1), TypeError, r"dropout: x"),
    (lambda x: ictus.dropout(x, 1.0, 1), ValueError, r"dropout: p must be a probability in \[0, 1\)"),
    (lambda x: ictus.dropout(x, -0.1, 1), ValueError, r"dropout: p must be a probability"),
    (lambda x: ictus.dropout(x, float("nan"), 1), ValueError, r"dropout: p must be a probability"),
    (lambda x: ictus.dropout(x, "0.5", 1), ValueError, r"dropout: p must be a probability"),
    (lambda x: ictus.dropout(x, 0.5, -1), ValueError, r"dropout: seed must be an int in \[0, 2\*\*64\)"),
    (lambda x: ictus.dropout(x, 0.5, 2 ** 64), ValueError, r"dropout: seed must be an int"),
    (lambda x: ictus.dropout(x, 0.5, 1.5), ValueError, r"dropout: seed must be an int"),
    (lambda x: ictus.dropout(x, 0.5, 1, out=np.empty((3, 4), np.float32)), ValueError,
     r"dropout: out must have the input's shape"),
    (lambda x: ictus.dropout(x, 0.5, 1, out=x), ValueError, r"dropout: out overlaps an input"),
    (lambda x: ictus.dropout(np.empty((0, 4), np.float32), 0.5, 1), ValueError, r"dropout: x"),
])
def test_bad_arguments_raise_clearly(call: Callable[[np.ndarray], object], error: type, match: str) -> None:
    x = np.ones((4, 4), np.float32)
    with pytest.raises(error, match=match):
        call(x)


def test_nn_dropout_runs_the_kernel_and_recomputes_the_mask_backward(rng: np.random.Generator) -> None:
    layer = ictus.nn.Dropout(0.3)
    x = rng.standard_normal((2, 3, 50)).astype(np.float32)
    ictus.nn.manual_seed(8)
    y = layer(x)
    ictus.nn.manual_seed(8)
    seed = int(ictus.nn.random.generator().bit_generator.random_raw())
    np.testing.assert_array_equal(y, ictus.dropout(x, 0.3, seed))
    g = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(g), ictus.dropout(g, 0.3, seed))
    ictus.nn.manual_seed(8)
    y64 = layer(x.astype(np.float64))  # other dtypes: the kernel's factors, applied in x's dtype
    assert y64.dtype == np.float64
    factors = ictus.dropout(np.ones(x.shape, np.float32), 0.3, seed).astype(np.float64)
    np.testing.assert_array_equal(y64, x.astype(np.float64) * factors)


def test_nn_spatial_dropout_takes_one_factor_per_channel(rng: np.random.Generator) -> None:
    layer = ictus.nn.SpatialDropout1d(0.4)
    x = rng.uniform(1, 2, (5, 7, 13)).astype(np.float32)
    ictus.nn.manual_seed(3)
    y = layer(x)
    ictus.nn.manual_seed(3)
    seed = int(ictus.nn.random.generator().bit_generator.random_raw())
    factors = ictus.dropout(np.ones((5, 7, 1), np.float32), 0.4, seed)
    np.testing.assert_array_equal(y, x * factors)


@pytest.mark.cuda
def test_dropout_cuda_drops_what_the_cpu_drops(cp: object, rng: np.random.Generator) -> None:
    x = rng.standard_normal((3, 16 * 1024 + 7)).astype(np.float32)
    x[0, :3] = [np.nan, np.inf, -np.inf]
    seed = 0x0123456789ABCDEF
    got = cp.asnumpy(ictus.dropout(cp.asarray(x), 0.2, seed))  # type: ignore[attr-defined]
    assert_matches(got, dropout_reference(x, 0.2, seed), "CUDA dropout")
    np.testing.assert_array_equal(got, ictus.dropout(x, 0.2, seed))
