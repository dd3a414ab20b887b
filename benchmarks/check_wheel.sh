#!/usr/bin/env bash
# Packaging check: builds the sdist, a wheel from that sdist (so the sdist is complete), installs the
# wheel into a fresh venv with the test extra, checks that the CPU-only build imports and refuses
# CuPy arrays with the documented error, then runs the test suite from a copy of tests/ outside the
# source tree against the installed wheel.
#
#   benchmarks/check_wheel.sh [WORK_DIR]     (ICTUS_CUDA=AUTO|ON|OFF, default OFF: minutes faster)
#
# About 8 minutes on 2 busy cores: sdist 5 s, CPU-only wheel 3-4 min, venv with torch 1-2 min, suite 4 min.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/ictus-wheel-check.XXXXXX)}
export ICTUS_CUDA=${ICTUS_CUDA:-OFF}
mkdir -p "$work"
echo "== work dir $work, ICTUS_CUDA=$ICTUS_CUDA"

python3 -m pip install -q build
python3 -m build --sdist --outdir "$work/dist" "$repo"
sdist=$(ls "$work"/dist/ictus-*.tar.gz)
python3 -m pip wheel "$sdist" -w "$work/dist" --no-build-isolation --no-deps -q
wheel=$(ls "$work"/dist/ictus-*.whl)
ls -l "$sdist" "$wheel"

rm -rf "$work/venv"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel[test]"

rm -rf "$work/suite" && mkdir "$work/suite"
cp -r "$repo/tests" "$repo/pyproject.toml" "$work/suite/"  # pyproject.toml: pytest's settings only
cd "$work/suite"
"$work/venv/bin/python" - <<'PY'
import contextlib, sys, types
import numpy as np
import ictus

assert "/venv/" in ictus.__file__, f"ictus imported from {ictus.__file__}, not the installed wheel"
y = ictus.conv1d(np.ones((1, 2, 9), np.float32), np.ones((3, 2, 3), np.float32))
assert y.shape == (1, 3, 7) and np.all(y == 6)
print("ictus", ictus.__version__, "from", ictus.__file__, "| cpu_isas", ictus.cpu_isas(),
      "| cuda compiled", ictus.cuda.is_compiled())
if not ictus.cuda.is_compiled():
    assert ictus.cuda.device_count() == 0 and not ictus.cuda.is_available()
    # A shape-only CuPy stand-in: a CPU-only build must refuse it, naming the rebuild.
    cupy = types.ModuleType("cupy")
    cupy.cuda = types.SimpleNamespace(Device=lambda _id: contextlib.nullcontext(),
                                      get_current_stream=lambda: types.SimpleNamespace(ptr=0))
    sys.modules["cupy"] = cupy
    class Array:
        def __init__(self, *shape):
            self.shape, self.device = shape, types.SimpleNamespace(id=0)
            self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (0, False), "version": 3}
    Array.__module__ = "cupy._stand_in"
    cupy.empty = lambda shape, dtype=None: Array(*shape)  # outputs are allocated before the refusal
    try:
        ictus.conv1d(Array(1, 2, 9), Array(3, 2, 3))
    except RuntimeError as err:
        assert "built without CUDA kernels" in str(err) and "ICTUS_CUDA=ON" in str(err), err
        print("CuPy arrays refused:", err)
    else:
        raise SystemExit("a CPU-only build ran a CuPy array")
PY
time "$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests
