"""Size limits: sizes past 64 bits refused, failed allocations as MemoryError, long inputs in bounded memory.

* Byte counts past int64 cannot be built with NumPy (it refuses such arrays itself), but a CuPy array's
  ``__cuda_array_interface__`` can state any shape: a stand-in CuPy module and array (no GPU, no data)
  carry such shapes to the compiled module, which must refuse them with a ValueError naming the op and
  the argument, for every op, before anything is allocated or launched (the stand-in's allocator fails
  the test if it is reached).
* Allocations that fail raise MemoryError: each op runs in a child process whose address space is
  capped just above what it already uses, on inputs whose output does not fit.
* A conv1d over 10 million frames (16 channels, kernel 5) stays within a small multiple of its
  arrays' size, measured as the child process' peak RSS.
* Element counts past 2**31 (32-bit index overflow) need 8 GiB arrays; those checks run only with
  ``ICTUS_TEST_HUGE=1`` (about a minute and 9 GiB each).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ictus
import pytest
from conftest import caps_address_space

TESTS_DIR = Path(__file__).resolve().parent


# ------------------------------------------------------------------ sizes past 64 bits


class FakeGpuArray:
    """Shape-only stand-in for a CuPy float32 (or int64) array: nothing is allocated."""

    __module__ = "cupy._stand_in"  # what ictus._array recognises as CuPy

    def __init__(self, *shape: int, typestr: str = "<f4") -> None:
        self.shape = shape
        self.device = types.SimpleNamespace(id=0)
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (0, False), "version": 3,
                                         "strides": None}

    def reshape(self, *_: int) -> FakeGpuArray:
        size = 1
        for n in self.shape:
            size *= n
        return FakeGpuArray(size, typestr=self.__cuda_array_interface__["typestr"])


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CuPy module whose allocator fails the test: a refusal must come before any allocation."""
    def no_allocation(shape: Any, dtype: Any = None) -> None:
        pytest.fail(f"ictus allocated an array of shape {shape} instead of refusing the sizes")

    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(Device=lambda _id: contextlib.nullcontext(),
                                        get_current_stream=lambda: types.SimpleNamespace(ptr=0))
    module.empty = module.zeros = no_allocation
    monkeypatch.setitem(sys.modules, "cupy", module)


F = FakeGpuArray
HUGE = (2**40, 2**22, 1)  # 2**62 elements: 2**64 bytes of float32
HUGE4 = (2**40, 2**22, 1, 1)
IDX = {"typestr": "<i8"}

M61 = 2**61 - 1  # float32 bytes fit in int64 (2**63 - 4), int64 bytes do not
BYTES = "is too large: its byte count overflows"
GEOMETRY = "x is too large to address"

# (op, message after "op: ", call) with one argument past 2**63 bytes and every other one small. A
# backward op checks x and weight first, and a grad_y that large implies an output past the limits.
BYTE_OVERFLOW = [
    ("conv1d", f"x {BYTES}", lambda: ictus.conv1d(F(*HUGE), F(1, 2**22, 1))),
    ("conv1d", f"weight {BYTES}", lambda: ictus.conv1d(F(1, 2**22, 8), F(2**40, 2**22, 1))),
    ("conv1d_backward", GEOMETRY, lambda: ictus.conv1d_backward(F(*HUGE), F(2**40, 1, 1), F(2**22, 1, 1))),
    ("conv1d_backward", f"x {BYTES}", lambda: ictus.conv1d_backward(F(1, 1, 1), F(*HUGE), F(1, 2**22, 1))),
    ("conv2d", f"x {BYTES}", lambda: ictus.conv2d(F(*HUGE4), F(1, 2**22, 1, 1))),
    ("conv2d", f"weight {BYTES}", lambda: ictus.conv2d(F(1, 2**22, 1, 1), F(2**40, 2**22, 1, 1))),
    ("conv2d_backward", GEOMETRY,
     lambda: ictus.conv2d_backward(F(*HUGE4), F(2**40, 1, 1, 1), F(2**22, 1, 1, 1))),
    ("max_pool1d", f"x {BYTES}", lambda: ictus.max_pool1d(F(*HUGE), 1)),
    ("max_pool2d", f"x {BYTES}", lambda: ictus.max_pool2d(F(*HUGE4), 1)),
    ("max_pool1d_backward", f"grad_y {BYTES}", lambda: ictus.max_pool1d_backward(F(*HUGE), F(*HUGE, **IDX), HUGE)),
    ("max_pool2d_backward", f"indices {BYTES}",
     lambda: ictus.max_pool2d_backward(F(1, 1, 1, M61), F(1, 1, 1, M61, **IDX), (1, 1, 1, M61))),
    ("gru", f"x {BYTES}", lambda: ictus.gru(F(*HUGE), None, F(3, 1), F(3, 1))),
    ("gru", f"weight_ih {BYTES}", lambda: ictus.gru(F(1, 1, 2**40), None, F(3 * 2**22, 2**40), F(3, 1))),
    ("gru_backward", f"grad_y {BYTES}", lambda: ictus.gru_backward(F(*HUGE), None, F(1, 1, 1), None, F(3, 1),
                                                                   F(3, 1), F(1, 1))),
    ("elu", f"x {BYTES}", lambda: ictus.elu(F(2**62))),
    ("elu_backward", f"grad_y {BYTES}", lambda: ictus.elu_backward(F(2**31, 2**31), F(2**31, 2**31))),
    ("dropout", f"x {BYTES}", lambda: ictus.dropout(F(2**62), 0.5, 1)),
]


@pytest.mark.parametrize("op,message,call", BYTE_OVERFLOW,
                         ids=[f"{op}-{msg.split()[0]}" for op, msg, _ in BYTE_OVERFLOW])
def test_byte_count_past_int64_refused(op: str, message: str, call: Callable[[], Any], fake_cupy: None) -> None:
    with pytest.raises(ValueError, match=rf"^{op}: {message}"):
        call()


# (call, message) where every argument fits but the output would not.
OUTPUT_OVERFLOW = [
    pytest.param(lambda: ictus.conv1d(F(2**30, 1, 2**30), F(2**10, 1, 1)), r"^conv1d: .*too large", id="conv1d"),
    pytest.param(lambda: ictus.conv2d(F(2**30, 1, 2**15, 2**15), F(2**10, 1, 1, 1)), r"^conv2d: .*too large",
                 id="conv2d"),
    pytest.param(lambda: ictus.gru(F(2**25, 2**25, 1), None, F(3 * 2**12, 1), F(3 * 2**12, 2**12)),
                 r"overflows a 64-bit size", id="gru"),
    pytest.param(lambda: ictus.max_pool1d(F(1, 1, 2**61 - 8), 1, return_indices=True), r"^max_pool1d: .*too large",
                 id="max_pool1d_indices"),
]


@pytest.mark.parametrize("call,message", OUTPUT_OVERFLOW)
def test_output_past_int64_refused(call: Callable[[], Any], message: str, fake_cupy: None) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------- failing allocations


def run_child(script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICTUS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, env=env,
                          timeout=timeout)


# Each op's inputs (tens of MiB) and a call whose output or scratch needs >= 64 MiB more.
MEMORY_SETUP = {
    "conv1d": "x = f32(1, 1, 2**22); w = f32(16, 1, 1)\ncall = lambda: ictus.conv1d(x, w)",
    "conv1d_backward": ("x = f32(1, 16, 2**20); w = f32(1, 16, 1); gy = f32(1, 1, 2**20)\n"
                        "call = lambda: ictus.conv1d_backward(gy, x, w)"),
    "conv2d": "x = f32(1, 1, 2**11, 2**11); w = f32(16, 1, 1, 1)\ncall = lambda: ictus.conv2d(x, w)",
    "conv2d_backward": ("x = f32(1, 16, 2**10, 2**10); w = f32(1, 16, 1, 1); gy = f32(1, 1, 2**10, 2**10)\n"
                        "call = lambda: ictus.conv2d_backward(gy, x, w)"),
    "max_pool1d": "x = f32(1, 1, 2**24)\ncall = lambda: ictus.max_pool1d(x, 1, return_indices=True)",
    "max_pool2d": "x = f32(1, 1, 2**12, 2**12)\ncall = lambda: ictus.max_pool2d(x, 1, return_indices=True)",
    "max_pool1d_backward": ("gy = f32(1, 1, 4); idx = np.arange(4).reshape(1, 1, 4)\n"
                            "call = lambda: ictus.max_pool1d_backward(gy, idx, (1, 1, 2**26))"),
    "max_pool2d_backward": ("gy = f32(1, 1, 1, 4); idx = np.arange(4).reshape(1, 1, 1, 4)\n"
                            "call = lambda: ictus.max_pool2d_backward(gy, idx, (1, 1, 2**13, 2**13))"),
    "gru": ("x = f32(2**10, 2**10, 1); wih = f32(48, 1); whh = f32(48, 16)\n"
            "call = lambda: ictus.gru(x, None, wih, whh)"),
    "gru_backward": ("x = f32(64, 16, 2**14); wih = f32(48, 2**14); whh = f32(48, 16)\n"
                     "y, h, res = ictus.gru(x, None, wih, whh, training=True)\n"
                     "call = lambda: ictus.gru_backward(y, None, x, None, wih, whh, res)"),
    "elu": "x = f32(2**24)\ncall = lambda: ictus.elu(x)",
    "elu_backward": "gy = f32(2**24); y = f32(2**24)\ncall = lambda: ictus.elu_backward(gy, y)",
    "dropout": "x = f32(2**24)\ncall = lambda: ictus.dropout(x, 0.5, 7)",
}

MEMORY_SCRIPT = """
import resource
import numpy as np, ictus
ictus.set_output_cache_limit(0)  # else the first call's freed output would serve the second
f32 = lambda *shape: np.full(shape, 0.5, np.float32)
{setup}
def address_space():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
try:
    call()  # starts the thread pool and sizes the scratch buffers; its output is freed
except MemoryError:
    raise SystemExit("MemoryError before the cap")
resource.setrlimit(resource.RLIMIT_AS, (address_space() + (32 << 20),) * 2)
try:
    call()
except MemoryError as err:
    print("MemoryError", type(err).__name__, err)
"""


@caps_address_space
@pytest.mark.parametrize("op", sorted(MEMORY_SETUP))
def test_failed_allocation_raises_memory_error(op: str) -> None:
    """After one call, the child caps its address space at what it uses plus 32 MiB: the next call's
    output (>= 64 MiB) cannot be allocated."""
    setup = textwrap.dedent(MEMORY_SETUP[op])
    proc = run_child(MEMORY_SCRIPT.format(setup=setup), timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("MemoryError"), (
        f"{op} under a capped address space: exit {proc.returncode}\nstdout: {proc.stdout[-1000:]}\n"
        f"stderr: {proc.stderr[-2000:]}")


# ------------------------------------------------------------------ long sequences

LONG_SCRIPT = """
import resource, numpy as np, ictus
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start = peak()
rng = np.random.default_rng(3)
x = rng.standard_normal((1, 16, 10_000_000), dtype=np.float32)
w = rng.standard_normal((16, 16, 5), dtype=np.float32)
y = np.empty_like(x)
for d in (1, 16):
    ictus.conv1d(x, w, padding="same", dilation=d, out=y)
forward = peak() - start
grad_x = np.empty_like(x)
ictus.conv1d_backward(y, x, w, padding="same", dilation=16, out=(grad_x, None, None))
backward = peak() - start
window = x[0, :, 4_000_000:4_000_100]
want = np.einsum("oik,ikt->ot", w, np.stack([x[0, :, 4_000_000 + 16 * (k - 2):4_000_100 + 16 * (k - 2)]
                                             for k in range(5)], axis=1))
assert np.abs(y[0, :, 4_000_000:4_000_100] - want).max() <= 1e-4 * np.abs(want).max(), "wrong values"
print(x.nbytes, forward, backward)
"""


def test_long_conv1d_bounded_memory() -> None:
    """10 million frames, 16 -> 16 channels, kernel 5, dilations 1 and 16, "same" padding (640 MB each
    for x, y and grad_x). Measured: forward peak 1.50 x (x + y) (one x-sized scratch), backward 1.67 x
    (x + grad_y + grad_x) (two x-sized scratches); the bounds leave 10% for allocator slack."""
    proc = run_child(LONG_SCRIPT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    array_bytes, forward, backward = map(int, proc.stdout.split())
    assert forward <= 1.65 * 2 * array_bytes, f"forward peak RSS {forward / 2**20:.0f} MiB for x + y of " \
                                              f"{2 * array_bytes / 2**20:.0f} MiB"
    assert backward <= 1.85 * 3 * array_bytes, f"backward peak RSS {backward / 2**20:.0f} MiB for x, grad_y, " \
                                                f"grad_x of {3 * array_bytes / 2**20:.0f} MiB"


# ------------------------------------------------------------- past 2**31 elements (opt-in)

HUGE_SCRIPT = """
import numpy as np, ictus
big = 2**31 + 2**20 + 37  # elements: past int32, and not a multiple of any vector width
stride = 2**20
x = np.zeros((1, 1, big), np.float32)  # untouched pages cost no memory until written
last = (ictus.conv1d_output_length(big, 8, stride=stride) - 1) * stride  # the last window's start
op = {op!r}
if op == "conv1d":
    x[0, 0, last:last + 3] = (1, 2, 3)
    y = ictus.conv1d(x, np.array([[[1, 10, 100]]], np.float32), stride=stride)
    assert y[0, 0, -1] == 321, y[0, 0, -1]
elif op == "max_pool1d":
    x[0, 0, last + 5] = 7
    y, idx = ictus.max_pool1d(x, 8, stride=stride, return_indices=True)
    assert (y[0, 0, -1], idx[0, 0, -1]) == (7, last + 5), (y[0, 0, -1], idx[0, 0, -1], last + 5)
    grad = ictus.max_pool1d_backward(np.ones_like(y), idx, x.shape)
    assert grad[0, 0, last + 5] == 1 and grad[0, 0, last:last + 8].sum() == 1
else:  # gru: N * D past 2**31, the last sequence's last input drives its gates
    x = x[0, 0, :2**11 * (2**20 + 1)].reshape(1, 2**11, 2**20 + 1)
    x[0, -1, -1] = 1
    w_ih = np.zeros((3, 2**20 + 1), np.float32)
    w_ih[:, -1] = 5
    y, h = ictus.gru(x, None, w_ih, np.zeros((3, 1), np.float32))
    want = (1 - 1 / (1 + np.exp(-5.0))) * np.tanh(5.0)
    assert abs(y[0, -1, 0] - want) < 1e-6 and y[0, 0, 0] == 0, (y[0, -1, 0], want)
print("ok")
"""


@pytest.mark.skipif(os.environ.get("ICTUS_TEST_HUGE") != "1", reason="needs ~9 GiB and a minute each: "
                    "ICTUS_TEST_HUGE=1 runs it")
@pytest.mark.parametrize("op", ["conv1d", "max_pool1d", "gru"])
def test_past_int32_elements(op: str) -> None:
    """Inputs of 2**31 + 2**20 + 37 elements with values only near their end: 32-bit element offsets
    would read or write the wrong place."""
    proc = run_child(HUGE_SCRIPT.format(op=op), timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
