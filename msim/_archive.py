"""Reading ``.npz`` archives whole and checked (result files, ensemble chunks and results):
a damaged file is an error that says so, never a wrong array."""

import io
import lzma
import math
import os
import struct
import zipfile
import zlib

import numpy as np


class ArchiveError(ValueError):
    """Why an archive cannot be read: ``damaged`` (truncated or altered after it was written)
    or not an archive of NumPy arrays; ``why`` in words, for the caller's message."""

    def __init__(self, damaged: bool, why: str):
        super().__init__(why)
        self.damaged = damaged
        self.why = why


# What reading a damaged zip archive can raise, from the zip layer or its decompressors (a
# flipped byte may name any compression method or set any flag): all mean "damaged" here.
# (MemoryError is left out: it is this machine's limit, not the file's fault.)
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    OverflowError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)

_ZIP_MAGIC = b"PK\x03\x04"
_END_MAGIC, _END_SIZE = b"PK\x05\x06", 22  # zip's end-of-central-directory record
_NPY_MAGIC = b"\x93NUMPY"


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array in the ``.npz`` archive at ``path``, by name, each read and checked whole;
    an `ArchiveError` saying why not (damaged, or not an archive of arrays).

    Each entry is read to its end, so the zip layer checks its CRC-32 and that its local
    header names the same entry as the central directory. `numpy.load` alone does not: it
    reads an entry only as far as the entry's own ``.npy`` header says, so a flipped byte in
    that header (a shape or dtype that asks for fewer bytes) would load a wrong array
    silently. CRC-32 detects every error confined to 32 consecutive bits, so every flipped
    byte in an entry's bytes. The number of entries must match the zip end record's count,
    and each entry's ``.npy`` header must account for the entry's length exactly.
    """
    with open(path, "rb") as f:  # opened here: a permission error stays a permission error
        head = f.read(len(_ZIP_MAGIC))
        if not head:
            raise ArchiveError(True, "it is empty")
        try:
            archive = zipfile.ZipFile(f)
        except _ZIP_ERRORS as e:
            if _ZIP_MAGIC.startswith(head):  # it starts as a zip archive does: truncated
                raise ArchiveError(True, f"its zip archive cannot be opened ({e})") from None
            if head == _NPY_MAGIC[: len(head)]:
                raise ArchiveError(
                    False, "it holds a single NumPy array, not an .npz archive"
                ) from None
            raise ArchiveError(False, f"it is not a NumPy .npz archive ({e})") from None
        with archive:  # a zip archive, as its central directory was found and read
            infos = archive.infolist()
            # zipfile stops reading the central directory where its size is used up, so a
            # flipped length there drops the entries after it unnoticed; the end record
            # (the file's last 22 bytes, as msim writes no zip comment) has their count.
            f.seek(-_END_SIZE, os.SEEK_END)
            end = f.read(_END_SIZE)
            (listed,) = struct.unpack("<H", end[10:12])
            if end.startswith(_END_MAGIC) and listed != len(infos):
                raise ArchiveError(
                    True, f"its zip directory has {len(infos)} entries, its end record {listed}"
                )
            try:
                entries = {info.filename: archive.read(info) for info in infos}
            except _ZIP_ERRORS as e:
                raise ArchiveError(True, f"its zip archive cannot be read ({e})") from None
    arrays = {}
    for entry, data in entries.items():
        name = entry.removesuffix(".npy")
        if name == entry:
            raise ArchiveError(False, f"its entry {entry!r} is not a NumPy array (.npy)")
        try:
            arrays[name] = _npy_array(data)
        except ValueError as e:
            raise ArchiveError(
                True, f"its entry {entry!r} is not a valid .npy array ({e})"
            ) from None
    return arrays


def _npy_array(data: bytes) -> np.ndarray:
    """The array in the bytes of a ``.npy`` file, without copying them (read-only)."""
    fp = io.BytesIO(data)
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
    else:  # 3.0 is for field names outside Latin-1, which no msim array has
        raise ValueError(f".npy format version {version} is not one NumPy writes for msim")
    if dtype.hasobject:
        raise ValueError(f"dtype {dtype} holds Python objects, which would need unpickling")
    count = math.prod(shape)
    offset = fp.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise ValueError(
            f"its header says {count} items of {dtype.itemsize} bytes, but "
            f"{len(data) - offset} bytes follow it"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran_order else "C")
