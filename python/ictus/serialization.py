"""save / load: models, optimizer states and training checkpoints as safetensors files.

The file is plain safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian
header length N, N bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}}`` padded with spaces to a multiple of 8, then the tensors' raw
little-endian bytes back to back, offsets counted from the end of the header.

Every array in the saved object becomes a tensor named by its dotted path (a Module saved on its
own gives its state_dict names, so the file also loads into torch with ``safetensors.torch``).
Everything else (dicts with int or str keys, lists, tuples, numbers, strings, None, the RNG state)
goes into ``__metadata__["ictus"]`` as one JSON tree in which arrays are ``{"__tensor__": name}``,
so :func:`load` rebuilds the same nested structure, arrays as NumPy. A file written by another
program loads as ``{name: array}``, sorted by name.

:func:`save` is atomic: it writes a temporary file beside the target, fsyncs it, renames it onto
the path and fsyncs the directory, so a crash leaves either the old file or the new one.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from typing import Any, BinaryIO

import numpy as np

from .nn.module import array_module

__all__ = ["load", "save"]

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8,
    "BOOL": np.bool_,
}
_CODES = {np.dtype(t): code for code, t in _DTYPES.items()}
_STRUCTURE_KEY = "ictus"
_MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header
# Keys of the one-entry JSON objects that stand for what JSON lacks.
_TENSOR, _SCALAR, _TUPLE, _DICT, _FLOAT = "__tensor__", "__scalar__", "__tuple__", "__dict__", "__float__"
_MARKERS = {_TENSOR, _SCALAR, _TUPLE, _DICT, _FLOAT}


# ---------------------------------------------------------------------------------------------- save
class _Packer:
    """Turns an object into a JSON tree, collecting its arrays (host, little-endian) by name."""

    def __init__(self) -> None:
        self.tensors: dict[str, np.ndarray] = {}

    def _add(self, path: str, array: Any) -> str:
        host = array if isinstance(array, np.ndarray) else array.get()
        code = _CODES.get(host.dtype.newbyteorder("="))
        if code is None:
            raise TypeError(f"save: the array at {path or 'the top level'} has dtype {host.dtype}, which safetensors "
                            f"cannot hold here; use one of {', '.join(np.dtype(t).name for t in _DTYPES.values())}")
        name, n = path or "tensor", 1
        while name in self.tensors or name == "__metadata__":
            n += 1
            name = f"{path or 'tensor'}~{n}"
        self.tensors[name] = np.asarray(host, dtype=host.dtype.newbyteorder("<"), order="C")  # keeps 0-d
        return name

    def pack(self, obj: Any, path: str) -> Any:
        if hasattr(obj, "state_dict") and callable(obj.state_dict):
            obj = obj.state_dict()
        if isinstance(obj, np.generic) and not isinstance(obj, str):  # first: np.float64 is a float too
            return {_SCALAR: self._add(path, np.asarray(obj))}
        if obj is None or isinstance(obj, (bool, int, str)):
            return obj
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else {_FLOAT: repr(obj)}
        if isinstance(obj, np.ndarray) or array_module(obj) is not np:
            return {_TENSOR: self._add(path, obj)}
        if isinstance(obj, (list, tuple)):
            items = [self.pack(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(obj)]
            return {_TUPLE: items} if isinstance(obj, tuple) else items
        if isinstance(obj, dict):
            return self._pack_dict(obj, path)
        raise TypeError(f"save: cannot store a {type(obj).__name__} (at {path or 'the top level'}); save arrays, "
                        "numbers, strings, None, lists, tuples, dicts and objects with a state_dict()")

    def _pack_dict(self, obj: dict[Any, Any], path: str) -> Any:
        for key in obj:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} (at {path or 'the top level'})")
        items = [(key, self.pack(v, f"{path}.{key}" if path else str(key))) for key, v in obj.items()]
        if all(isinstance(key, str) for key in obj) and not _MARKERS.intersection(obj):
            return dict(items)
        return {_DICT: [list(item) for item in items]}  # int keys, or keys that look like markers


def _header(tensors: dict[str, np.ndarray], structure: Any) -> bytes:
    entries: dict[str, Any] = {}
    offset = 0
    for name, array in tensors.items():
        entries[name] = {"dtype": _CODES[array.dtype.newbyteorder("=")], "shape": list(array.shape),
                         "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    entries["__metadata__"] = {"format": "np", _STRUCTURE_KEY: json.dumps(structure, allow_nan=False)}
    text = json.dumps(entries, separators=(",", ":"), allow_nan=False).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data start to 8 bytes
    return len(text).to_bytes(8, "little") + text


def _write_tensor(file: BinaryIO, array: np.ndarray) -> None:
    if array.size:
        file.write(memoryview(array.reshape(-1)).cast("B"))


def _fsync_directory(directory: str) -> None:
    """Makes the rename durable. Best effort: some platforms (Windows) cannot open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Writes ``obj`` (a Module, an optimizer, a scheduler, EarlyStopping, arrays, or dicts/lists of
    them with numbers, strings and None) to ``path`` as a safetensors file, atomically."""
    path = os.fspath(path)
    packer = _Packer()
    structure = packer.pack(obj, "")
    header = _header(packer.tensors, structure)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    # os.open with mode 0o666 lets the umask decide the final permissions, as a plain open() would.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(header)
            for array in packer.tensors.values():
                _write_tensor(file, array)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


# ---------------------------------------------------------------------------------------------- load
def _corrupt(path: str, why: str) -> ValueError:
    return ValueError(f"load: {path} is not a valid safetensors file: {why}")


def _read_header(file: BinaryIO, size: int, path: str) -> tuple[dict[str, Any], int]:
    if size < 8:
        raise _corrupt(path, f"it has {size} bytes, fewer than the 8 of the header length")
    length = int.from_bytes(file.read(8), "little")
    if length > min(size - 8, _MAX_HEADER):
        raise _corrupt(path, f"the header length {length} exceeds the {size - 8} bytes that follow (truncated?)")
    try:
        header = json.loads(file.read(length).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _corrupt(path, f"the header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise _corrupt(path, "the header is not a JSON object")
    return header, 8 + length


def _tensor_layout(entry: Any, name: str, data_size: int, path: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Checks one header entry; returns its dtype (little-endian), shape and start offset."""
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise _corrupt(path, f"tensor {name!r} lacks dtype, shape or data_offsets")
    if entry["dtype"] not in _DTYPES:
        raise _corrupt(path, f"tensor {name!r} has dtype {entry['dtype']!r}; ictus reads {', '.join(_DTYPES)}")
    shape, offsets = entry["shape"], entry["data_offsets"]
    if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise _corrupt(path, f"tensor {name!r} has shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(n, int) for n in offsets)
            and 0 <= offsets[0] <= offsets[1]):
        raise _corrupt(path, f"tensor {name!r} has data_offsets {offsets!r}")
    dtype = np.dtype(_DTYPES[entry["dtype"]]).newbyteorder("<")
    if offsets[1] - offsets[0] != math.prod(shape) * dtype.itemsize:
        raise _corrupt(path, f"tensor {name!r} of shape {shape} and dtype {entry['dtype']} spans "
                             f"{offsets[1] - offsets[0]} bytes")
    if offsets[1] > data_size:
        raise _corrupt(path, f"tensor {name!r} ends at byte {offsets[1]} of a {data_size}-byte data section "
                             "(truncated?)")
    return dtype, tuple(shape), offsets[0]


def _read_tensors(file: BinaryIO, header: dict[str, Any], data_start: int, size: int,
                  path: str) -> dict[str, np.ndarray]:
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, begin = _tensor_layout(entry, name, size - data_start, path)
        array = np.empty(shape, dtype=dtype)
        file.seek(data_start + begin)
        if array.nbytes and file.readinto(memoryview(array.reshape(-1)).cast("B")) != array.nbytes:
            raise _corrupt(path, f"tensor {name!r} is cut short")
        tensors[name] = array.astype(dtype.newbyteorder("="), copy=False)
    return tensors


class _Unpacker:
    """Rebuilds the saved structure from the JSON tree and the tensors."""

    def __init__(self, tensors: dict[str, np.ndarray], path: str) -> None:
        self.tensors, self.path = tensors, path

    def tensor(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or name not in self.tensors:
            raise _corrupt(self.path, f"the structure refers to tensor {name!r}, which the file lacks")
        return self.tensors[name]

    def _expect(self, ok: bool, what: str) -> None:
        if not ok:
            raise _corrupt(self.path, f"the ictus structure in __metadata__ is damaged: {what}")

    def unpack(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.unpack(v) for v in node]
        if not isinstance(node, dict):
            return node
        if len(node) != 1 or next(iter(node)) not in _MARKERS:
            return {key: self.unpack(v) for key, v in node.items()}
        ((marker, value),) = node.items()
        if marker in (_TENSOR, _SCALAR):
            array = self.tensor(value)
            return array if marker == _TENSOR else array[()]
        if marker == _FLOAT:
            self._expect(value in ("inf", "-inf", "nan"), f"{value!r} is not a non-finite float")
            return float(value)
        self._expect(isinstance(value, list), f"{marker} holds {type(value).__name__}, not a list")
        if marker == _TUPLE:
            return tuple(self.unpack(v) for v in value)
        self._expect(all(isinstance(pair, list) and len(pair) == 2 for pair in value), "dict entries are not pairs")
        return {key: self.unpack(v) for key, v in value}


def load(path: str | os.PathLike[str]) -> Any:
    """Reads a file written by :func:`save` (the saved structure, arrays as NumPy) or any other
    safetensors file (``{name: array}``, sorted by name). Raises FileNotFoundError if there is no file and
    ValueError if it is not valid safetensors."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no file at {path!r}")
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        header, data_start = _read_header(file, size, path)
        tensors = _read_tensors(file, header, data_start, size, path)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _corrupt(path, "__metadata__ is not a dict of strings")
    if _STRUCTURE_KEY not in metadata:
        return dict(sorted(tensors.items()))
    try:
        structure = json.loads(metadata[_STRUCTURE_KEY])
    except json.JSONDecodeError as error:
        raise _corrupt(path, f"the ictus structure in __metadata__ is not JSON ({error})") from None
    return _Unpacker(tensors, path).unpack(structure)
