"""The output cache (csrc/common/output_cache.h): large CPU outputs reuse the memory of freed ones,
views keep their block, the limit holds, small outputs and the cache turned off fall back to
NumPy's allocation, threads share it safely, and bad settings raise clearly."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import ictus
import numpy as np
import pytest

LARGE = 300_000  # floats: 1.2 MB, above the 128 KiB threshold


@pytest.fixture
def cache_limit() -> Iterator[int]:
    """Puts the cache's limit back after a test that changes it."""
    before = ictus.output_cache_info()["limit_bytes"]
    yield before
    ictus.set_output_cache_limit(before)


def address(a: np.ndarray) -> int:
    return int(a.__array_interface__["data"][0])


def on_cached_block(a: np.ndarray) -> bool:
    """Whether a's memory is a cached block (owned by ictus' capsule) rather than NumPy's."""
    owner = a
    while isinstance(owner, np.ndarray):
        owner = owner.base
    return type(owner).__name__ == "PyCapsule"


def test_a_freed_output_is_reused_by_the_next_of_its_size(cache_limit: int, rng: np.random.Generator) -> None:
    ictus.set_output_cache_limit(64 << 20)
    x = rng.standard_normal(LARGE).astype(np.float32)
    y = ictus.elu(x)
    first = address(y)
    del y
    before = ictus.output_cache_info()
    assert before["cached_bytes"] >= x.nbytes
    z = ictus.elu(x * 2)
    after = ictus.output_cache_info()
    assert address(z) == first and after["hits"] == before["hits"] + 1
    np.testing.assert_array_equal(z, ictus.elu(x * 2, out=np.empty_like(x)))  # every element rewritten
    assert z.flags.c_contiguous and z.flags.writeable and z.dtype == np.float32 and z.shape == x.shape


def test_indices_come_from_the_cache_too(cache_limit: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 5, 300, 81)).astype(np.float32)
    y, idx = ictus.max_pool2d(x, (1, 3), return_indices=True)
    assert idx.dtype == np.int64 and idx.shape == y.shape and idx.flags.c_contiguous
    assert on_cached_block(idx), "a 1 MB index array should sit on a cached block"
    want_y, want_idx = ictus.max_pool2d(x, (1, 3), return_indices=True, out=(np.empty_like(y), np.empty_like(idx)))
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)


def test_a_view_keeps_its_block(cache_limit: int, rng: np.random.Generator) -> None:
    x = rng.standard_normal(LARGE).astype(np.float32)
    view = ictus.elu(x)[::2]
    want = view.copy()
    other = ictus.elu(-x)  # the same size: must not get the block the view still uses
    assert address(other) != address(view)
    np.testing.assert_array_equal(view, want)


def test_small_outputs_and_a_zero_limit_use_numpy(cache_limit: int, rng: np.random.Generator) -> None:
    assert not on_cached_block(ictus.elu(rng.standard_normal(32 * 1024 - 1).astype(np.float32)))
    assert on_cached_block(ictus.elu(rng.standard_normal(32 * 1024).astype(np.float32)))  # 128 KiB exactly
    ictus.set_output_cache_limit(0)
    assert ictus.output_cache_info()["cached_bytes"] == 0
    x = rng.standard_normal(LARGE).astype(np.float32)
    y = ictus.elu(x)
    assert on_cached_block(y)  # still served by the cache's allocator, only never kept
    del y
    assert ictus.output_cache_info()["cached_bytes"] == 0, "a zero limit must keep nothing"


def test_the_limit_bounds_what_is_kept(cache_limit: int, rng: np.random.Generator) -> None:
    ictus.set_output_cache_limit(3 << 20)
    x = rng.standard_normal(LARGE).astype(np.float32)
    outputs = [ictus.elu(x) for _ in range(6)]  # 6 blocks of 1.25 MiB alive at once
    del outputs
    info = ictus.output_cache_info()
    assert 0 < info["cached_bytes"] <= 3 << 20 and info["limit_bytes"] == 3 << 20
    ictus.set_output_cache_limit(1 << 20)
    assert ictus.output_cache_info()["cached_bytes"] <= 1 << 20


def test_threads_share_the_cache(cache_limit: int, restore_num_threads: int, rng: np.random.Generator) -> None:
    ictus.set_num_threads(1)
    inputs = [rng.standard_normal(LARGE + 17 * k).astype(np.float32) for k in range(4)]
    wants = [ictus.elu(x, out=np.empty_like(x)) for x in inputs]
    errors: list[str] = []

    def work(k: int) -> None:
        for _ in range(50):
            if not np.array_equal(ictus.elu(inputs[k]), wants[k]):
                errors.append(f"thread {k}")
                return

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_bad_settings_raise_clearly() -> None:
    with pytest.raises(ValueError, match=r"set_output_cache_limit: max_bytes must be >= 0"):
        ictus.set_output_cache_limit(-1)
    with pytest.raises(TypeError, match=r"set_output_cache_limit: max_bytes must be an int, got float"):
        ictus.set_output_cache_limit(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("64", True), ("", True), ("-1", False), ("lots", False)])
def test_env_output_cache_mb(value: str, ok: bool) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ICTUS_")}
    environ["ICTUS_OUTPUT_CACHE_MB"] = value
    proc = subprocess.run([sys.executable, "-c", "import ictus; print(ictus.output_cache_info()['limit_bytes'])"],
                          check=False, capture_output=True, text=True, env=environ, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stderr
        assert int(proc.stdout) == (512 if value == "" else int(value)) << 20
    else:
        assert proc.returncode != 0 and "ICTUS_OUTPUT_CACHE_MB must be a whole number of MiB" in proc.stderr
