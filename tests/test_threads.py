"""Every op from 8 Python threads at once while another thread keeps changing ictus.set_num_threads.

test_runtime.py covers conv1d (concurrency and bitwise determinism across 1-3 kernel threads); this
adds conv2d, both max-pools, the GRU and ELU, forward and backward. Each result must be bitwise equal
to a single-threaded run of the same call: the kernels split work so that every output element is
summed in the same order whatever the thread count (the weight gradients reduce per-thread partial
sums in a fixed order over fixed chunks), so results do not differ across thread counts.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ictus
import numpy as np
import pytest

Job = Callable[[], list[np.ndarray]]
CHANGES = 40  # thread count changes while the workers run


def make_jobs(rng: np.random.Generator) -> dict[str, Job]:
    def f32(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    x1, w1, gy1 = f32(2, 13, 301), f32(11, 13, 5), f32(2, 11, 301)
    x2, w2, gy2 = f32(2, 7, 29, 31), f32(9, 7, 3, 3), f32(2, 9, 29, 31)
    p1, p2 = f32(3, 5, 257), f32(3, 5, 33, 29)
    y1, i1 = ictus.max_pool1d(p1, 3, 2, return_indices=True)
    y2, i2 = ictus.max_pool2d(p2, 3, 2, return_indices=True)
    xg, h0, w_ih, w_hh, b_ih, b_hh = f32(37, 5, 24), f32(5, 32), f32(96, 24), f32(96, 32), f32(96), f32(96)
    gyg = f32(37, 5, 32)
    _, _, reserve = ictus.gru(xg, h0, w_ih, w_hh, b_ih, b_hh, training=True)
    xe, ge = f32(5, 1001), f32(5, 1001)
    return {
        "conv1d": lambda: [ictus.conv1d(x1, w1, padding="same", dilation=3)],
        "conv1d_backward": lambda: list(ictus.conv1d_backward(gy1, x1, w1, padding="same", dilation=3)),
        "conv2d": lambda: [ictus.conv2d(x2, w2, padding=1)],
        "conv2d_backward": lambda: list(ictus.conv2d_backward(gy2, x2, w2, padding=1)),
        "max_pool1d": lambda: list(ictus.max_pool1d(p1, 3, 2, return_indices=True)),
        "max_pool2d": lambda: list(ictus.max_pool2d(p2, 3, 2, return_indices=True)),
        "max_pool1d_backward": lambda: [ictus.max_pool1d_backward(y1, i1, p1.shape)],
        "max_pool2d_backward": lambda: [ictus.max_pool2d_backward(y2, i2, p2.shape)],
        "gru": lambda: list(ictus.gru(xg, h0, w_ih, w_hh, b_ih, b_hh, training=True)),
        "gru_backward": lambda: list(ictus.gru_backward(gyg, None, xg, h0, w_ih, w_hh, reserve)),
        "elu": lambda: [ictus.elu(xe, 0.5)],
        "elu_backward": lambda: [ictus.elu_backward(ge, xe, 0.5)],
        "dropout": lambda: [ictus.dropout(xe, 0.3, 2**40 + 5)],
    }


def first_difference(got: list[np.ndarray], want: list[np.ndarray]) -> str | None:
    for i, (g, w) in enumerate(zip(got, want)):
        if not np.array_equal(g, w):
            return f"output {i} differs first at {np.argwhere(g != w)[0].tolist()}"
    return None


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_same_bits_for_any_thread_count(threads: int, restore_num_threads: int, rng: np.random.Generator) -> None:
    jobs = make_jobs(rng)
    ictus.set_num_threads(1)
    single = {name: job() for name, job in jobs.items()}
    ictus.set_num_threads(threads)
    for name, job in jobs.items():
        diff = first_difference(job(), single[name])
        assert diff is None, f"{name} with {threads} threads vs 1: {diff}"


def test_concurrent_ops_while_thread_count_changes(restore_num_threads: int, rng: np.random.Generator) -> None:
    """8 threads, each its own mix and order of the 13 ops, until the thread count changed 40 times (about
    a second here): every result bitwise equal to the single-threaded one, nothing hangs."""
    jobs = make_jobs(rng)
    names = sorted(jobs)
    ictus.set_num_threads(1)
    single = {name: jobs[name]() for name in names}
    errors: list[str] = []
    done = threading.Event()
    start = threading.Barrier(9)
    changes = [0]
    give_up = time.monotonic() + 60

    def worker(i: int) -> None:
        try:
            start.wait(30)
            it = 0
            # Until the thread count changed often enough (a change may wait for running kernels).
            while (it < 5 or changes[0] < CHANGES) and time.monotonic() < give_up:
                it += 1
                for name in names[i % 3::2] + names[(i + 1) % 2::3]:  # each thread its own order and mix
                    diff = first_difference(jobs[name](), single[name])
                    if diff:
                        errors.append(f"thread {i}, iteration {it}, {name}: {diff}")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(f"thread {i}: {type(err).__name__}: {err}")

    def changer() -> None:
        start.wait(30)
        while not done.is_set():
            ictus.set_num_threads(1 + changes[0] % 4)
            changes[0] += 1
            time.sleep(0)

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(8)]
    changing = threading.Thread(target=changer, daemon=True)
    for t in [*workers, changing]:
        t.start()
    for t in workers:
        t.join(max(0.0, give_up + 120 - time.monotonic()))
    done.set()
    changing.join(10)
    hung = [i for i, t in enumerate(workers) if t.is_alive()]
    assert not hung, f"threads {hung} did not finish in 180 s (deadlock?)"
    assert not errors, "\n".join(errors[:20])
    assert changes[0] >= CHANGES, f"set_num_threads returned only {changes[0]} times in 60 s of concurrent calls"
