"""Shared fixtures: every CPU kernel variant this machine can run, and fresh random data per test.

* ``isa``: parametrized over ``ictus.cpu_isas()`` (scalar always, then every SIMD variant the CPU
  supports), applied with ``ictus.use_cpu_isa`` for the duration of the test, so each variant is
  tested, not only the one dispatch picks.
* ``rng``: a ``np.random.Generator`` seeded from the test's node id, so every case draws different
  data and a failure reproduces by re-running that test. Set ``ICTUS_TEST_SEED=<int>`` to draw
  another set of data for the whole run (the seed is mixed into every test's seed).
* ``randn``: ``randn(*shape)`` -> float32 standard-normal data from ``rng`` (never zeros).
* ``cp``: the CuPy module for the CUDA tests, which skip with the reason when CuPy, ictus' CUDA
  kernels or a GPU are missing.
"""
from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import ictus
import numpy as np
import pytest

ISAS = ictus.cpu_isas()

# Tests that cap their child's address space (RLIMIT_AS) skip under AddressSanitizer (.ci/sanitize
# preloads libasan), which reserves terabytes of shadow memory and aborts when it cannot map more.
caps_address_space = pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                                        reason="AddressSanitizer cannot run under an address-space cap")


@pytest.fixture(params=ISAS)
def isa(request: pytest.FixtureRequest) -> Iterator[str]:
    name = request.param
    with ictus.use_cpu_isa(name):
        assert ictus.cpu_isa() == name
        yield name


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    seed = zlib.crc32(request.node.nodeid.encode()) ^ int(os.environ.get("ICTUS_TEST_SEED", "0"))
    return np.random.default_rng(seed)


@pytest.fixture
def randn(rng: np.random.Generator) -> Callable[..., np.ndarray]:
    def draw(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    return draw


@pytest.fixture
def restore_num_threads() -> Iterator[int]:
    """Puts the kernel thread count back after a test that changes it."""
    before = ictus.get_num_threads()
    yield before
    ictus.set_num_threads(before)


@pytest.fixture(scope="session")
def cp() -> Any:
    cupy = pytest.importorskip("cupy", reason="the CUDA tests need CuPy (pip install cupy-cuda12x) and a GPU",
                               exc_type=ImportError)
    if not ictus.cuda.is_compiled():
        pytest.skip("ictus was built without CUDA kernels (rebuild with nvcc on PATH: ICTUS_CUDA=ON pip install .)")
    if not ictus.cuda.is_available():
        pytest.skip("no CUDA GPU is visible (ictus.cuda.is_available() is False)")
    return cupy
