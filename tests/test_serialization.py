"""ictus.save / ictus.load: round trips of models, optimizer states and nested checkpoints, files
that the real safetensors package reads and writes, atomic replacement when writing fails, and
clear errors for missing, truncated and corrupt files."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ictus import nn, optim
from ictus.serialization import load, save


class Affine(nn.Module):
    """weight @ x + bias with a step-count buffer and a child, to give dotted state_dict names."""

    def __init__(self, rng: np.random.Generator, inputs: int = 4, outputs: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(rng.standard_normal((outputs, inputs)).astype(np.float32))
        self.bias = nn.Parameter(rng.standard_normal(outputs).astype(np.float32))
        self.register_buffer("steps", np.array(7, np.int64))


class Net(nn.Module):
    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__()
        self.first = Affine(rng)
        self.second = Affine(rng, 3, 2)


def assert_same(got: Any, expected: Any, where: str = "top") -> None:
    """Deep equality that also checks types (tuple vs list, int vs float keys) and array dtypes."""
    if isinstance(expected, (np.ndarray, np.generic)):
        assert type(got) is type(expected), f"{where}: {type(got)} != {type(expected)}"
        assert got.dtype == expected.dtype and got.shape == expected.shape, where
        np.testing.assert_array_equal(got, expected, err_msg=where)
    elif isinstance(expected, dict):
        assert isinstance(got, dict) and list(got) == list(expected), f"{where}: keys {list(got)} != {list(expected)}"
        for key in expected:
            assert type(key) is type(next(k for k in got if k == key)), f"{where}: key {key!r} changed type"
            assert_same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, (list, tuple)):
        assert type(got) is type(expected) and len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert isinstance(got, float) and math.isnan(got), where
    else:
        assert type(got) is type(expected) and got == expected, f"{where}: {got!r} != {expected!r}"


def trained_optimizer(model: nn.Module, rng: np.random.Generator) -> optim.Adam:
    opt = optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    for _ in range(3):
        for p in model.parameters():
            p.grad = rng.standard_normal(p.shape).astype(np.float32)
        opt.step()
    return opt


def test_model_round_trip(rng: np.random.Generator, tmp_path: Path) -> None:
    model = Net(rng)
    save(model, tmp_path / "model.safetensors")
    state = load(tmp_path / "model.safetensors")
    assert_same(state, dict(model.state_dict()))
    fresh = Net(np.random.default_rng(12345))
    fresh.load_state_dict(state)
    assert_same(dict(fresh.state_dict()), dict(model.state_dict()))


def test_checkpoint_round_trip(rng: np.random.Generator, tmp_path: Path) -> None:
    model = Net(rng)
    opt = trained_optimizer(model, rng)
    scheduler = optim.ReduceLROnPlateau(opt, patience=1)
    scheduler.step(1.0)
    generator = np.random.default_rng(3)
    checkpoint = {
        "model": model, "optimizer": opt, "scheduler": scheduler, "rng": generator.bit_generator.state,
        "epoch": 3, "history": {"loss": [0.5, 0.25], "val_loss": []}, "nothing": None,
        "flags": [True, False, "text", (1, 2.5, None)], "nonfinite": [math.inf, -math.inf, math.nan],
        "int_keys": {0: "zero", 10: {"nested": np.arange(3)}},
        "marker_like": {"__tensor__": 1, "__dict__": np.ones(2)}, "__metadata__": np.zeros(1),
        "scalars": [np.float32(1.5), np.int64(-3), np.bool_(True)],
        "arrays": {"zero_d": np.array(2.5), "empty": np.zeros((0, 3), np.int32),
                   "non_contiguous": np.arange(24.0).reshape(4, 6)[:, ::2], "big_endian": np.arange(5, dtype=">i4")},
        "dtypes": {np.dtype(t).name: (rng.standard_normal(5) * 50).astype(t)
                   for t in (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                             np.uint64, np.uint32, np.uint16, np.uint8, np.bool_)},
    }
    save(checkpoint, tmp_path / "checkpoint.safetensors")
    loaded = load(tmp_path / "checkpoint.safetensors")
    expected = {**checkpoint, "model": dict(model.state_dict()), "optimizer": opt.state_dict(),
                "scheduler": scheduler.state_dict()}
    expected["arrays"] = {**checkpoint["arrays"], "big_endian": np.arange(5, dtype=np.int32)}
    assert_same(loaded, expected)
    restored = optim.Adam(Net(rng).parameters())
    restored.load_state_dict(loaded["optimizer"])
    assert restored.param_groups[0]["betas"] == opt.param_groups[0]["betas"]


def test_files_are_safetensors(rng: np.random.Generator, tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy", reason="pip install safetensors to check the format")
    from safetensors import safe_open

    model = Net(rng)
    opt = trained_optimizer(model, rng)
    save({"model": model, "optimizer": opt, "epoch": 4}, tmp_path / "c.safetensors")
    tensors = safetensors_numpy.load_file(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(tensors["model.first.weight"], model.first.weight.data)
    np.testing.assert_array_equal(tensors["optimizer.state.0.max_exp_avg_sq"],
                                  opt.state[model.first.weight]["max_exp_avg_sq"])
    with safe_open(tmp_path / "c.safetensors", framework="np") as file:
        structure = json.loads(file.metadata()["ictus"])
    assert structure["epoch"] == 4

    written = {"w": rng.standard_normal((2, 3)), "i": np.arange(4, dtype=np.int16), "b": np.array([True, False])}
    safetensors_numpy.save_file(written, tmp_path / "theirs.safetensors", metadata={"format": "np"})
    assert_same(load(tmp_path / "theirs.safetensors"), {k: written[k] for k in sorted(written)})


def test_module_file_loads_into_torch(rng: np.random.Generator, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch", reason="pip install safetensors to check the format")
    layer = Affine(rng)
    del layer._buffers["steps"]  # torch.nn.Linear has weight and bias only
    save(layer, tmp_path / "linear.safetensors")
    linear = torch.nn.Linear(4, 3)
    linear.load_state_dict(safetensors_torch.load_file(tmp_path / "linear.safetensors"))
    np.testing.assert_array_equal(linear.weight.detach().numpy(), layer.weight.data)


# ---------------------------------------------------------------------------------------------- atomic writes
def assert_untouched(tmp_path: Path, target: Path, before: bytes) -> None:
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name], "a temporary file was left behind"


def test_failure_while_writing_keeps_the_old_file(rng: np.random.Generator, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from ictus import serialization

    target = tmp_path / "model.safetensors"
    save(Net(rng), target)
    before = target.read_bytes()
    write_tensor = serialization._write_tensor
    written = []

    def fail_on_second_tensor(file: Any, array: np.ndarray) -> None:
        if written:
            raise OSError("no space left on device")
        written.append(array)
        write_tensor(file, array)

    monkeypatch.setattr(serialization, "_write_tensor", fail_on_second_tensor)
    with pytest.raises(OSError, match="no space"):
        save(Net(rng), target)
    assert_untouched(tmp_path, target, before)


def test_failure_at_rename_or_on_bad_objects_keeps_the_old_file(rng: np.random.Generator, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.safetensors"
    save(Net(rng), target)
    before = target.read_bytes()
    with pytest.raises(TypeError, match=r"cannot store a object \(at extra\)"):
        save({"model": Net(rng), "extra": object()}, target)
    assert_untouched(tmp_path, target, before)

    def refuse(*args: Any) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError):
        save(Net(rng), target)
    assert_untouched(tmp_path, target, before)


def test_new_file_permissions_follow_the_umask(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        save({"x": np.ones(2)}, tmp_path / "x.safetensors")
    finally:
        os.umask(umask)
    assert (tmp_path / "x.safetensors").stat().st_mode & 0o777 == 0o644


# ---------------------------------------------------------------------------------------------- errors
def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no file at"):
        load(tmp_path / "absent.safetensors")


def raw_file(path: Path, header: dict[str, Any], data: bytes = b"", length: int | None = None) -> Path:
    text = json.dumps(header).encode()
    path.write_bytes((len(text) if length is None else length).to_bytes(8, "little") + text + data)
    return path


@pytest.mark.parametrize("cut", [0, 5, 8, 20, -1])
def test_truncated_files_raise_value_error(cut: int, rng: np.random.Generator, tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    save(Net(rng), target)
    data = target.read_bytes()
    target.write_bytes(data[:cut])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load(target)


CORRUPT_HEADERS: dict[str, tuple[dict[str, Any], bytes, str]] = {
    "unknown-dtype": ({"x": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0\0", "dtype 'BF16'"),
    "size-mismatch": ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 8, "spans 4 bytes"),
    "negative-shape": ({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
    "past-the-end": ({"x": {"dtype": "U8", "shape": [9], "data_offsets": [0, 9]}}, b"\0" * 4, "truncated"),
    "missing-fields": ({"x": {"dtype": "U8"}}, b"", "lacks dtype, shape or data_offsets"),
    "metadata-not-strings": ({"__metadata__": {"ictus": 3}}, b"", "dict of strings"),
    "structure-not-json": ({"__metadata__": {"ictus": "{oops"}}, b"", "not JSON"),
    "structure-missing-tensor": ({"__metadata__": {"ictus": '{"w": {"__tensor__": "w"}}'}}, b"", "lacks"),
    "structure-bad-marker": ({"__metadata__": {"ictus": '{"__dict__": 5}'}}, b"", "damaged"),
}


@pytest.mark.parametrize("case", CORRUPT_HEADERS)
def test_corrupt_headers_raise_value_error(case: str, tmp_path: Path) -> None:
    header, data, message = CORRUPT_HEADERS[case]
    with pytest.raises(ValueError, match=message):
        load(raw_file(tmp_path / "bad.safetensors", header, data))


def test_garbage_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exceeds"):
        load(raw_file(tmp_path / "long.safetensors", {}, length=10**9))
    (tmp_path / "text.safetensors").write_bytes((12).to_bytes(8, "little") + b"not json!!!!")
    with pytest.raises(ValueError, match="header is not JSON"):
        load(tmp_path / "text.safetensors")
    with pytest.raises(ValueError, match="not a JSON object"):
        load(raw_file(tmp_path / "list.safetensors", [1, 2]))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{(1, 2): 3}, {True: 1}, np.ones(2, np.complex64), {1, 2}])
def test_unsupported_objects_raise_type_error(bad: Any, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="save:"):
        save({"bad": bad}, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_cupy_arrays_are_stored_from_the_host(cp: Any, tmp_path: Path) -> None:
    array = cp.arange(6, dtype=cp.float32).reshape(2, 3)
    save({"a": array}, tmp_path / "gpu.safetensors")
    loaded = load(tmp_path / "gpu.safetensors")["a"]
    assert isinstance(loaded, np.ndarray)
    np.testing.assert_array_equal(loaded, cp.asnumpy(array))
