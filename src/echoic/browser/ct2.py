"""Read a CTranslate2 ``model.bin`` into numpy arrays, without CTranslate2.

The format (CTranslate2's ``models/model.cc``, binary versions 2–6), all little-endian::

    u32 binary_version
    str spec_name; u32 spec_revision                     (version >= 2)
    u32 n_variables
    n_variables × { str name; u8 rank; u32 dims[rank];
                    u8 dtype; u32 n_bytes; bytes data }   (version >= 4: dtype is a type id)
    u32 n_aliases; n_aliases × { str alias; str name }   (version >= 3)

where ``str`` is a u16 length followed by that many bytes ending in NUL. A tied weight (the
decoder's output projection is its token embedding) is stored once and named again as an alias.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from echoic.errors import ModelCorruptError

#: CTranslate2's ``DataType`` enum, in declaration order.
DTYPES: dict[int, np.dtype[np.generic]] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
_BFLOAT16 = 5


@dataclass(frozen=True)
class Checkpoint:
    spec: str
    revision: int
    variables: dict[str, npt.NDArray[np.generic]]

    def get(self, name: str) -> npt.NDArray[np.float32]:
        """A variable as float32 (every Whisper weight is a float), named directly or by alias."""
        try:
            return self.variables[name].astype(np.float32)
        except KeyError:
            raise ModelCorruptError(f"the CTranslate2 model has no variable {name!r}") from None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelCorruptError("the CTranslate2 model.bin ends early (truncated file)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return int(self.take(1)[0])

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def string(self) -> str:
        raw = self.take(self.u16())
        return raw.split(b"\0", 1)[0].decode("utf-8")


def read_ct2(path: Path) -> Checkpoint:
    return parse_ct2(path.read_bytes())


def parse_ct2(data: bytes) -> Checkpoint:
    reader = _Reader(data)
    version = reader.u32()
    if not 4 <= version <= 6:
        raise ModelCorruptError(f"unsupported CTranslate2 binary version {version} (need 4–6)")
    spec, revision = reader.string(), reader.u32()
    variables: dict[str, npt.NDArray[np.generic]] = {}
    for _ in range(reader.u32()):
        name = reader.string()
        shape = tuple(reader.u32() for _ in range(reader.u8()))
        type_id, n_bytes = reader.u8(), reader.u32()
        raw = reader.take(n_bytes)
        if type_id == _BFLOAT16:
            # bfloat16 is the high half of a float32.
            halves = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array: npt.NDArray[np.generic] = halves.view(np.float32)
        elif type_id in DTYPES:
            array = np.frombuffer(raw, dtype=DTYPES[type_id])
        else:
            raise ModelCorruptError(f"variable {name!r} has unknown CTranslate2 dtype {type_id}")
        expected = int(np.prod(shape, dtype=np.int64))
        if array.size != expected:
            raise ModelCorruptError(
                f"variable {name!r} holds {array.size} values, its shape {shape} needs {expected}"
            )
        variables[name] = array.reshape(shape)
    for _ in range(reader.u32()):
        alias, target = reader.string(), reader.string()
        if target not in variables:
            raise ModelCorruptError(f"alias {alias!r} names a missing variable {target!r}")
        variables[alias] = variables[target]
    if reader.pos != len(data):
        raise ModelCorruptError(f"{len(data) - reader.pos} unexpected bytes after the model")
    return Checkpoint(spec=spec, revision=revision, variables=variables)
