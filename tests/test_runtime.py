"""Runtime behaviour: ISA dispatch and forcing (ictus.cpu_isa, cpu_isas, use_cpu_isa, kernel_name,
ICTUS_CPU_ISA), the thread pool (set/get_num_threads, ICTUS_NUM_THREADS), bitwise determinism
across thread counts and calls, concurrent calls from Python threads, and the GIL being released
while kernels run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ictus
import numpy as np
import pytest
import reference as ref
from conv1d_cases import ALL_CASES, Case, params

ALL_ISAS = ("scalar", "portable", "avx2", "avx512")
OPS = ("conv1d_fwd", "conv1d_bwd_data", "conv1d_bwd_weight", "conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_data_scatter",
       "conv2d_bwd_weight")
TESTS_DIR = Path(__file__).resolve().parent


def by_name(name: str) -> Case:
    return next(c for c in ALL_CASES if c.name == name)


# --------------------------------------------------------------------------- ISA dispatch


def test_cpu_isas() -> None:
    isas = ictus.cpu_isas()
    assert isas[0] == "scalar", "the scalar variant is always available"
    assert "portable" in isas, "the portable SIMD variant is always compiled"
    assert isas == [n for n in ALL_ISAS if n in isas], f"cpu_isas() must be ordered as {ALL_ISAS}: {isas}"
    assert len(set(isas)) == len(isas)
    assert ictus.cpu_isa() in isas
    if not os.environ.get("ICTUS_CPU_ISA"):
        assert ictus.cpu_isa() == isas[-1], "without ICTUS_CPU_ISA, dispatch picks the fastest supported variant"


def test_kernel_name(isa: str) -> None:
    """conv1d runs as conv2d of height 1: both name the same convolution kernels."""
    names = {op: ictus.kernel_name(op) for op in OPS}
    for op, name in names.items():
        assert isinstance(name, str) and name.startswith("conv_") and name.endswith("_" + isa), (op, name)
    for conv in ("conv1d", "conv2d"):
        assert names[f"{conv}_fwd"] == f"conv_fwd_{isa}"
        assert names[f"{conv}_bwd_weight"] == f"conv_bwd_weight_{isa}"
        if isa == "scalar":
            assert names[f"{conv}_bwd_data"] == "conv_bwd_data_scalar"
        else:  # the SIMD input gradient runs as the forward correlation with transposed weights
            assert names[f"{conv}_bwd_data"] == f"conv_fwd_{isa}"
    assert names["conv2d_bwd_data_scatter"] == f"conv_bwd_data_{isa}"  # or, for some shapes, as a scatter


def test_kernel_name_follows_dispatch() -> None:
    assert ictus.kernel_name("conv1d_fwd") == f"conv_fwd_{ictus.cpu_isa()}"


@pytest.mark.parametrize("op", ["conv1d", "conv3d_fwd", "", "CONV1D_FWD"])
def test_kernel_name_unknown_op(op: str) -> None:
    with pytest.raises(ValueError, match=r"^kernel_name: unknown op .*conv1d_fwd"):
        ictus.kernel_name(op)


@pytest.mark.parametrize("name", ["sse4", "AVX2", "", "neon", "avx512f"])
def test_use_cpu_isa_unknown(name: str) -> None:
    with pytest.raises(ValueError, match=r"^use_cpu_isa: unknown ISA .*scalar"):
        with ictus.use_cpu_isa(name):
            pass


@pytest.mark.parametrize("name", [n for n in ALL_ISAS if n not in ictus.cpu_isas()] or ["(none)"])
def test_use_cpu_isa_unsupported(name: str) -> None:
    if name == "(none)":
        pytest.skip("this CPU supports every variant")
    with pytest.raises(ValueError, match=rf"^use_cpu_isa: this CPU cannot run '{name}'"):
        with ictus.use_cpu_isa(name):
            pass


def test_use_cpu_isa_restores_and_nests() -> None:
    default = ictus.cpu_isa()
    with ictus.use_cpu_isa("scalar"):
        assert ictus.cpu_isa() == "scalar"
        with ictus.use_cpu_isa("portable"):
            assert ictus.cpu_isa() == "portable"
            assert ictus.kernel_name("conv1d_fwd") == "conv_fwd_portable"
        assert ictus.cpu_isa() == "scalar"
    assert ictus.cpu_isa() == default
    with pytest.raises(RuntimeError, match="boom"), ictus.use_cpu_isa("scalar"):
        raise RuntimeError("boom")
    assert ictus.cpu_isa() == default


def test_use_cpu_isa_is_per_thread() -> None:
    """A block in one thread does not change what another thread runs."""
    default = ictus.cpu_isa()
    seen: dict[str, str] = {}
    inside = threading.Event()
    release = threading.Event()

    def forcing() -> None:
        with ictus.use_cpu_isa("scalar"):
            seen["forcing"] = ictus.cpu_isa()
            inside.set()
            release.wait(10)

    t = threading.Thread(target=forcing)
    t.start()
    assert inside.wait(10)
    seen["main"] = ictus.cpu_isa()
    release.set()
    t.join(10)
    assert seen == {"forcing": "scalar", "main": default}


def test_forced_variant_really_runs(randn: Callable[..., np.ndarray]) -> None:
    """The scalar variant sums in double (float32(exact) almost everywhere); the SIMD variants sum
    in float32, so they round differently on many elements: use_cpu_isa must switch the kernels."""
    case = by_name("primes")
    x, w, b = randn(*case.x_shape), randn(*case.w_shape), randn(case.c_out)
    left, right = case.pads
    exact = ref.conv1d_forward(x, w, b, stride=case.stride, left=left, right=right,
                               dilation=case.dilation).astype(np.float32)
    for name in ictus.cpu_isas():
        with ictus.use_cpu_isa(name):
            agree = float(np.mean(ictus.conv1d(x, w, b, **case.kwargs) == exact))
        if name == "scalar":
            assert agree > 0.999, f"scalar agrees with float32(exact) on only {agree:.1%}"
        else:
            assert agree < 0.95, f"{name} agrees with float32(exact) on {agree:.1%}: did the scalar kernel run?"


# ---------------------------------------------------------------- environment variables


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter with ICTUS_* variables replaced by `env`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ICTUS_")}
    environ.update(env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120)


ISA_PROBE = """
import numpy as np, ictus, reference as ref
rng = np.random.default_rng(7)
x = rng.standard_normal((2, 5, 37)).astype(np.float32)
w = rng.standard_normal((7, 5, 3)).astype(np.float32)
y = ictus.conv1d(x, w, padding="same", dilation=2)
ref.assert_close(y, ref.conv1d_forward(x, w, None, left=2, right=2, dilation=2))
print(ictus.cpu_isa(), ictus.kernel_name("conv1d_fwd"), ictus.kernel_name("conv1d_bwd_weight"))
"""


@pytest.mark.parametrize("name", ALL_ISAS)
def test_env_cpu_isa_caps_dispatch(name: str) -> None:
    supported = ictus.cpu_isas()
    expected = name if name in supported else supported[-1]  # a cap above the CPU changes nothing
    proc = run_python(ISA_PROBE, ICTUS_CPU_ISA=name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected, f"conv_fwd_{expected}", f"conv_bwd_weight_{expected}"]


def test_env_cpu_isa_empty_means_unset() -> None:
    proc = run_python(ISA_PROBE, ICTUS_CPU_ISA="")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == ictus.cpu_isas()[-1]


@pytest.mark.parametrize("value", ["sse4", "AVX2", "avx-512", "fastest"])
def test_env_cpu_isa_unknown_fails_import(value: str) -> None:
    proc = run_python("import ictus", ICTUS_CPU_ISA=value)
    assert proc.returncode != 0, "import ictus must fail for an unknown ICTUS_CPU_ISA"
    err = proc.stderr
    assert value in err, f"the message should quote the bad value {value!r}:\n{err}"
    for valid in ALL_ISAS:
        assert valid in err, f"the message should name the valid value {valid!r}:\n{err}"


def test_env_num_threads() -> None:
    proc = run_python("import ictus; print(ictus.get_num_threads())", ICTUS_NUM_THREADS="3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "3"


@pytest.mark.parametrize("value", ["0", "-3", "abc", "4x", "1e9", "2000"])
def test_env_num_threads_invalid(value: str) -> None:
    """A value set_num_threads would refuse must not become the thread count: either the import
    fails naming ICTUS_NUM_THREADS, or the default (the usable CPUs) applies."""
    proc = run_python("import ictus; print(ictus.get_num_threads())", ICTUS_NUM_THREADS=value)
    if proc.returncode != 0:
        assert "ICTUS_NUM_THREADS" in proc.stderr, proc.stderr
        return
    got = int(proc.stdout)
    assert got == len(os.sched_getaffinity(0)), (
        f"ICTUS_NUM_THREADS={value!r} gave {got} threads; set_num_threads accepts ints in [1, 1024] only")


def test_default_num_threads_is_usable_cpus() -> None:
    proc = run_python("import ictus; print(ictus.get_num_threads())")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(os.sched_getaffinity(0))


# ---------------------------------------------------------------------------- threads


def test_set_get_num_threads(restore_num_threads: int, randn: Callable[..., np.ndarray]) -> None:
    case = by_name("stride2_tiles")
    x, w, b = randn(*case.x_shape), randn(*case.w_shape), randn(case.c_out)
    left, right = case.pads
    want = ref.conv1d_forward(x, w, b, stride=case.stride, left=left, right=right, dilation=case.dilation)
    for n in (1, 2, 3, 5, 1, 16):  # more threads than cores is allowed
        ictus.set_num_threads(n)
        assert ictus.get_num_threads() == n
        ref.assert_close(ictus.conv1d(x, w, b, **case.kwargs), want, 1e-5, f"y with {n} threads")


@pytest.mark.parametrize("value,exc", [(0, ValueError), (-1, ValueError), (1025, ValueError), (2**40, ValueError),
                                       (2.0, TypeError), (True, TypeError), ("2", TypeError), (None, TypeError)])
def test_set_num_threads_bad(value: Any, exc: type[Exception], restore_num_threads: int) -> None:
    with pytest.raises(exc, match=r"^set_num_threads: n must be"):
        ictus.set_num_threads(value)
    assert ictus.get_num_threads() == restore_num_threads


DETERMINISM_CASES = ["primes", "stride2_tiles", "wide_channels", "rows_T1024", "large", "tcn_d16"]


@pytest.mark.parametrize("case", params([by_name(n) for n in DETERMINISM_CASES]))
def test_bitwise_deterministic(case: Case, isa: str, restore_num_threads: int,
                               randn: Callable[..., np.ndarray]) -> None:
    """Same bits for 1, 2 and 3 threads and for repeated calls (forward and all gradients)."""
    x, w, b = randn(*case.x_shape), randn(*case.w_shape), randn(case.c_out)
    gy = randn(*case.y_shape)
    results = []
    for n in (1, 2, 3, 2):
        ictus.set_num_threads(n)
        y = ictus.conv1d(x, w, b, **case.kwargs)
        grads = ictus.conv1d_backward(gy, x, w, **case.kwargs)
        results.append((n, [y, *grads]))
    ictus.set_num_threads(2)
    results.append((2, [ictus.conv1d(x, w, b, **case.kwargs), *ictus.conv1d_backward(gy, x, w, **case.kwargs)]))
    first_n, first = results[0]
    for n, other in results[1:]:
        for name, a, c in zip(("y", "grad_x", "grad_weight", "grad_bias"), first, other):
            assert np.array_equal(a, c), (f"{name} differs between {first_n} and {n} threads "
                                          f"(first difference at {np.argwhere(a != c)[0].tolist()})")


def test_concurrent_calls(restore_num_threads: int, rng: np.random.Generator) -> None:
    """8 Python threads run different shapes and variants at once while two of them keep changing
    the thread count: every result must be right, and nothing may hang."""
    names = ["primes", "stride2_tiles", "wide_channels", "ch13x17", "tcn_d64", "pad_asym_gt_span",
             "stride3_causal", "rows_T1024"]
    isas = ictus.cpu_isas()
    jobs = []
    for i, name in enumerate(names):
        case = by_name(name)
        x = rng.standard_normal(case.x_shape).astype(np.float32)
        w = rng.standard_normal(case.w_shape).astype(np.float32)
        b = rng.standard_normal(case.c_out).astype(np.float32)
        gy = rng.standard_normal(case.y_shape).astype(np.float32)
        left, right = case.pads
        geo = dict(stride=case.stride, left=left, right=right, dilation=case.dilation)
        want = [ref.conv1d_forward(x, w, b, **geo), *ref.conv1d_backward(gy, x, w, **geo)]
        # scalar is slow on the long TCN shape; give it the small ones
        isa = isas[i % len(isas)] if case.t < 1000 else isas[-1]
        jobs.append((case, isa, x, w, b, gy, want))

    errors: list[str] = []
    done = [0] * len(jobs)
    start = threading.Barrier(len(jobs))

    def worker(i: int) -> None:
        case, isa, x, w, b, gy, want = jobs[i]
        try:
            start.wait(30)
            with ictus.use_cpu_isa(isa):
                for it in range(6):
                    if i in (0, 1):
                        ictus.set_num_threads(1 + (it + i) % 3)
                    out = np.full(case.y_shape, np.nan, np.float32)
                    got = [ictus.conv1d(x, w, b, **case.kwargs, out=out), *ictus.conv1d_backward(gy, x, w, **case.kwargs)]
                    for name, g, r in zip(("y", "grad_x", "grad_weight", "grad_bias"), got, want):
                        ref.assert_close(g, r, 1e-5, f"{case.id} [{isa}] iteration {it}: {name}")
                    done[i] += 1
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(f"thread {i} ({case.id}, {isa}): {type(err).__name__}: {err}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(len(jobs))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not hung, f"threads {hung} did not finish in 120 s (deadlock?); iterations done: {done}"
    assert not errors, "\n".join(errors)
    assert done == [6] * len(jobs)


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_gil_released_during_kernels(direction: str, restore_num_threads: int, rng: np.random.Generator) -> None:
    """While one thread runs a long kernel, another Python thread keeps running."""
    ictus.set_num_threads(1)  # the kernel takes one core, the counting thread the other
    length = 10_000 if ictus.cpu_isa() == "scalar" else 150_000  # about a second either way
    x = rng.standard_normal((1, 64, length)).astype(np.float32)
    w = rng.standard_normal((64, 64, 5)).astype(np.float32)
    gy = rng.standard_normal((1, 64, length)).astype(np.float32)
    run = (lambda: ictus.conv1d(x, w, padding="same")) if direction == "forward" else (
        lambda: ictus.conv1d_backward(gy, x, w, padding="same"))
    run()  # warm up (scratch buffers, thread pool)

    # How fast this loop counts when it has a core to itself.
    never = threading.Event()
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 0.1:
        for _ in range(1000):
            if never.is_set():
                break
            count += 1
    rate = count / (time.perf_counter() - t0)

    started, finished = threading.Event(), threading.Event()
    span: dict[str, float] = {}

    def kernel() -> None:
        started.set()
        span["start"] = time.perf_counter()
        run()
        span["end"] = time.perf_counter()
        finished.set()

    worker = threading.Thread(target=kernel)
    worker.start()
    assert started.wait(10)
    counter = 0
    while not finished.is_set():
        counter += 1
    worker.join(60)
    seconds = span["end"] - span["start"]
    expected = rate * seconds
    assert seconds > 0.02, f"the kernel took only {seconds * 1e3:.1f} ms: too short to tell"
    assert counter > 0.2 * expected, (
        f"the counting thread advanced {counter} times during a {seconds * 1e3:.0f} ms {direction} kernel, "
        f"{counter / expected:.1%} of its free-running rate: the kernel seems to hold the GIL")


# ------------------------------------------------------------------------------- CUDA


def test_cuda_queries_consistent() -> None:
    """Runs everywhere: the CUDA queries agree with each other (the kernels are tested in
    test_conv1d_cuda.py, on machines with a GPU and CuPy)."""
    compiled, count, available = ictus.cuda.is_compiled(), ictus.cuda.device_count(), ictus.cuda.is_available()
    assert isinstance(compiled, bool) and isinstance(available, bool)
    assert isinstance(count, int) and count >= 0
    if not compiled:
        assert count == 0 and not available
    if available:
        assert compiled and count > 0
