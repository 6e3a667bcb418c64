"""Engine files: written atomically (safe with several workers), read back memory-mapped.

Compiled graphs and nearby() tables are uncompressed ``.npz`` files. :func:`load_npz` maps each large
array straight from the file instead of copying it into the process: the operating system then keeps
one copy of the pages in its page cache, shared by every worker process that serves the city, and a
process's resident memory holds only the pages its queries touched.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import numpy as np

#: Arrays smaller than this are read into memory (a page-aligned map is not worth it).
MMAP_MIN_BYTES = 1 << 16


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz`` via a per-process temporary file.

    Readers never see a half-written file, and two processes building the same cache at once (uvicorn
    workers) each rename a complete file into place; the temporary name (hidden, with the process id,
    not ending in ``.npz``) never matches a cache glob such as ``car-*.npz``.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            # mypy matches a **dict against savez's allow_pickle: bool as well
            np.savez(handle, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_npz(path: Path, *, mmap: bool = True) -> dict[str, np.ndarray]:
    """Every array of an uncompressed ``.npz``; large ones memory-mapped read-only when ``mmap``.

    A mapped array reads its pages from the file on first touch; the file may be replaced (new build)
    while mapped: the map keeps the old inode. Compressed members, object arrays and small arrays are
    read normally.

    Raises
    ------
    ValueError, OSError, zipfile.BadZipFile
        The file is not a readable ``.npz``.
    """
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if mmap and info.compress_type == zipfile.ZIP_STORED and info.file_size >= MMAP_MIN_BYTES:
                raw.seek(info.header_offset)
                local = raw.read(30)
                if local[:4] != b"PK\x03\x04":
                    msg = f"{path}: bad zip member header for {name}"
                    raise ValueError(msg)
                name_len, extra_len = struct.unpack("<HH", local[26:30])
                raw.seek(info.header_offset + 30 + name_len + extra_len)
                version = np.lib.format.read_magic(raw)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(raw)
                if not dtype.hasobject and shape:
                    out[name] = np.memmap(
                        path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape, order="F" if fortran else "C"
                    )
                    continue
            with zf.open(info) as member:
                out[name] = np.lib.format.read_array(member, allow_pickle=False)
    return out
