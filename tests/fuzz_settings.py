"""Hypothesis profiles for the fuzz tests (tests/test_fuzz.py), the count of the ictus calls they
make, and a watchdog that turns a hung test into a failed run with every thread's traceback.

Profiles, chosen with the ICTUS_FUZZ environment variable and applied only to the fuzz tests (through
`fuzz`), so the other files' hypothesis tests keep their own settings:

* ``ci`` (the default): derandomized, so every run draws the same examples and CI is reproducible;
  no deadline (the first call of a kernel variant pays for its warm-up); sized so that the whole
  fuzz file runs in about a minute on two busy cores.
* ``quick``: a quarter of ``ci``'s examples, derandomized too, for CI's second and third passes
  over the suite (the scalar kernels, the sanitizer build), where ``ci``'s run already drew the full
  set on the dispatched kernels.
* ``long``: 20 times the examples from a random seed each run, for a soak before a release:
  ``ICTUS_FUZZ=long python3 -m pytest tests/test_fuzz.py``. A failure prints the seed to rerun it.
"""
from __future__ import annotations

import collections
import contextlib
import faulthandler
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from hypothesis import HealthCheck, settings

CI_EXAMPLES = 400
# Seconds per example before the watchdog calls a test hung (an example takes milliseconds).
SECONDS_PER_EXAMPLE = 2.0

_COMMON: dict[str, Any] = {"deadline": None, "database": None, "print_blob": True,
                           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.filter_too_much]}
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile("quick", max_examples=CI_EXAMPLES // 4, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=20 * CI_EXAMPLES, derandomize=False, **_COMMON)

PROFILE_NAME = os.environ.get("ICTUS_FUZZ", "ci")
if PROFILE_NAME not in ("ci", "quick", "long"):
    raise ValueError(f"ICTUS_FUZZ must be 'ci', 'quick' or 'long', got {PROFILE_NAME!r}")
PROFILE = settings.get_profile(PROFILE_NAME)


def fuzz(weight: float = 1.0) -> settings:
    """The active profile, with `weight` times its examples (cheap tests draw more)."""
    return settings(PROFILE, max_examples=max(1, round(PROFILE.max_examples * weight)))


CALLS: collections.Counter[str] = collections.Counter()


def counted(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs), counted under fn's name."""
    CALLS[fn.__name__] += 1
    return fn(*args, **kwargs)


@contextlib.contextmanager
def watchdog(examples: int) -> Iterator[None]:
    """Ends the process with every thread's traceback if the block (a test of `examples` examples)
    runs past SECONDS_PER_EXAMPLE each: a hung kernel fails the run instead of stalling it. Armed
    per test, not per call: arming and cancelling costs most of a millisecond."""
    # sys.__stderr__: pytest's --capture=sys (the sanitizer run) leaves sys.stderr without a file descriptor.
    faulthandler.dump_traceback_later(max(60.0, SECONDS_PER_EXAMPLE * examples), exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


class CallCountReport:
    """A pytest plugin that prints CALLS at the end of the run (for the README's figure)."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        total = sum(CALLS.values())
        per_op = ", ".join(f"{op} {n}" for op, n in sorted(CALLS.items()))
        terminalreporter.write_line(f"ictus fuzz ({PROFILE_NAME} profile): {total} calls ({per_op})")
