"""Read the tensors of a legacy (pre-1.6, non-zip) PyTorch checkpoint with numpy alone.

Resemblyzer's ``pretrained.pt`` was written by ``torch.save`` in the legacy format: a pickle of
the magic number, one of the protocol version, one of system information, the pickled object
itself (whose tensors refer to storages by key), the pickled list of storage keys, and then each
storage's raw bytes after an 8-byte little-endian element count, in that order. Unpickling with a
restricted :class:`pickle.Unpickler` that knows only the handful of names such a checkpoint uses
(no ``torch`` import, nothing else executable) gives plain numpy arrays, so PyTorch is needed
neither at install time nor at run time.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001

#: ``torch.<Name>Storage`` → the element type of its bytes.
_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class CheckpointError(ValueError):
    """The file is not a legacy PyTorch checkpoint this reader understands."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _TensorRef:
    """A tensor whose storage bytes come later in the file."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(
    storage: _StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise CheckpointError(f"checkpoint refers to {module}.{name}, which this reader refuses")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unknown persistent id {pid!r}")
        _, storage_type, key, _location, _numel, *_view = pid
        if not isinstance(storage_type, _StorageType):
            raise CheckpointError(f"unknown storage type {storage_type!r}")
        return _StorageRef(str(key), storage_type.dtype)


def _load(fh: IO[bytes]) -> Any:
    return _Unpickler(fh, encoding="latin1").load()


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's top-level dictionary, every tensor in it an ``np.ndarray`` (a copy)."""
    with path.open("rb") as fh:
        try:
            magic = _load(fh)
            protocol = _load(fh)
        except (pickle.UnpicklingError, EOFError) as exc:
            raise CheckpointError(f"{path.name} is not a legacy PyTorch checkpoint") from exc
        if magic != _MAGIC or protocol != _PROTOCOL:
            raise CheckpointError(f"{path.name} is not a legacy PyTorch checkpoint")
        _load(fh)  # system info: endianness and type sizes (little-endian, as everywhere now)
        obj = _load(fh)
        keys = _load(fh)
        storages: dict[str, npt.NDArray[Any]] = {}
        refs = _storage_refs(obj)
        for key in keys:
            (count,) = struct.unpack("<q", fh.read(8))
            dtype = refs.get(key, np.dtype("u1"))
            data = fh.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                raise CheckpointError(f"{path.name} is truncated (storage {key})")
            storages[key] = np.frombuffer(data, dtype=dtype)
    result = _materialize(obj, storages)
    if not isinstance(result, dict):
        raise CheckpointError(f"{path.name} does not hold a dictionary")
    return result


def _storage_refs(obj: Any) -> dict[str, np.dtype[Any]]:
    found: dict[str, np.dtype[Any]] = {}
    if isinstance(obj, _TensorRef):
        found[obj.storage.key] = obj.storage.dtype
    elif isinstance(obj, dict):
        for value in obj.values():
            found.update(_storage_refs(value))
    elif isinstance(obj, list | tuple):
        for value in obj:
            found.update(_storage_refs(value))
    return found


def _materialize(obj: Any, storages: dict[str, npt.NDArray[Any]]) -> Any:
    if isinstance(obj, _TensorRef):
        flat = storages[obj.storage.key]
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[obj.offset :],
            shape=obj.size,
            strides=tuple(s * itemsize for s in obj.stride),
            writeable=False,
        )
        return np.array(view)
    if isinstance(obj, dict):
        return type(obj)((k, _materialize(v, storages)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_materialize(v, storages) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, storages) for v in obj)
    return obj
