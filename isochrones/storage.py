"""Engine files: written atomically (safe with several workers), read back without private copies.

Compiled graphs and nearby() tables are uncompressed ``.npz`` files. Two ways of reading them keep a
worker's private memory small, and both leave one copy of the data in the operating system's page
cache, shared by every worker process that serves the city:

* :func:`load_npz` **maps** each large array (graphs: scipy searches need real arrays). A process's
  resident memory (RSS) then holds the pages its searches touched.
* :func:`open_npz` gives :class:`StoredArray` views that **read** the rows a query asks for with
  ``os.preadv`` (nearby() tables: a query reads one row of a table of hundreds of MiB). Nothing is
  mapped, so the table adds nothing to RSS however many rows are read.

Why not map the tables too: on Linux ≥ 6.x the page cache holds files in large folios (up to 2 MiB
on ext4), and a fault on a mapped file maps the whole folio around the page. Reading 200 rows of
900 bytes spread over a 460 MiB table then put ~250 MiB in the process's RSS (measured on these
machines); the same 200 rows through ``preadv`` add nothing.
"""

from __future__ import annotations

import os
import struct
import weakref
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

#: Arrays smaller than this are read into memory (a page-aligned map is not worth it).
MMAP_MIN_BYTES = 1 << 16


def save_npz(path: Path, **arrays: np.ndarray | StoredArray) -> Path:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz`` via a per-process temporary file.

    A :class:`StoredArray` is read whole first (a table saved again under a new name).

    Readers never see a half-written file, and two processes building the same cache at once (uvicorn
    workers) each rename a complete file into place; the temporary name (hidden, with the process id,
    not ending in ``.npz``) never matches a cache glob such as ``car-*.npz``.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            # mypy matches a **dict against savez's allow_pickle: bool as well
            np.savez(handle, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class _OpenFile:
    """A read-only file descriptor shared by the arrays of one file, closed when the last one goes."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.fd)


class StoredArray:
    """A read-only C-order array inside a file, read on demand with ``os.preadv`` (never mapped).

    Indexing the first axis with an integer or a step-1 slice reads just those rows
    (:meth:`rows`); any other index, and ``numpy.asarray``, read the whole array. The open file is
    kept (a replaced file keeps being read from its old inode, like a map; the arrays of one file
    share one descriptor) and closed when the last array of the file is collected. ``preadv``
    carries its own offset, so one object is safe to share between threads and across ``fork``.

    Parameters
    ----------
    path
        The file.
    offset
        Byte offset of the array's first element.
    dtype, shape
        The array's element type and shape (C order).
    file
        An open handle of ``path`` to share (default: open one).
    """

    def __init__(
        self, path: Path, *, offset: int, dtype: np.dtype, shape: tuple[int, ...], file: _OpenFile | None = None
    ) -> None:
        self.path = Path(path)
        self.offset = int(offset)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(s) for s in shape)
        self._row_items = int(np.prod(self.shape[1:], dtype=np.int64)) if len(self.shape) > 1 else 1
        self._file = file if file is not None else _OpenFile(self.path)
        self._fd = self._file.fd

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes the array takes in the file."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the first axis (clipped to the array), read from the file."""
        n = self.shape[0]
        start, stop = max(0, min(int(start), n)), max(0, min(int(stop), n))
        stop = max(stop, start)
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        want = out.nbytes
        if want:
            view = out.data.cast("B")
            pos = self.offset + start * self._row_items * self.dtype.itemsize
            done = 0
            while done < want:  # a regular file returns everything at once; loop for safety
                got = os.preadv(self._fd, [view[done:]], pos + done)
                if got <= 0:
                    msg = f"{self.path}: file ends before the stored array does"
                    raise OSError(msg)
                done += got
        return out

    def row(self, i: int) -> np.ndarray:
        """Row ``i`` of the first axis."""
        i = int(i)
        if not -self.shape[0] <= i < self.shape[0]:
            msg = f"row {i} out of range for {self.shape[0]} rows"
            raise IndexError(msg)
        return self.rows(i % self.shape[0], i % self.shape[0] + 1)[0]

    def blocks(self, max_bytes: int = 64 << 20) -> Iterator[tuple[int, np.ndarray]]:
        """``(first row, rows)`` blocks of at most ``max_bytes`` covering the array in order."""
        per_row = max(self._row_items * self.dtype.itemsize, 1)
        step = max(1, int(max_bytes) // per_row)
        for start in range(0, self.shape[0], step):
            yield start, self.rows(start, start + step)

    def chunks(self, size: int = 1 << 22) -> Iterator[memoryview]:
        """The array's bytes in file order, ``size`` at a time, through one reused buffer.

        Each chunk is valid until the next one is read (hashing a whole graph this way allocates
        ``size`` bytes, not the array).
        """
        buf = memoryview(bytearray(max(int(size), 1)))
        done, total = 0, self.nbytes
        while done < total:
            got = os.preadv(self._fd, [buf[: min(len(buf), total - done)]], self.offset + done)
            if got <= 0:
                msg = f"{self.path}: file ends before the stored array does"
                raise OSError(msg)
            yield buf[:got]
            done += got

    def __getitem__(self, key: Any) -> np.ndarray:  # any numpy index
        if isinstance(key, (int, np.integer)):
            return self.row(int(key))
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(self.shape[0])
            return self.rows(start, stop)
        return np.asarray(self)[key]

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        whole = self.rows(0, self.shape[0])
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"StoredArray({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"


def _members(path: Path) -> Iterator[tuple[str, zipfile.ZipInfo, zipfile.ZipFile, tuple | None]]:
    """Each member of an ``.npz`` with, for uncompressed C- or F-order numeric arrays, ``(offset, shape,
    fortran, dtype)`` of its data in the file."""
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            where = None
            if info.compress_type == zipfile.ZIP_STORED:
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
                    where = (raw.tell(), shape, fortran, dtype)
            yield name, info, zf, where


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
    for name, info, zf, where in _members(path):
        if mmap and where is not None and info.file_size >= MMAP_MIN_BYTES:
            offset, shape, fortran, dtype = where
            out[name] = np.memmap(
                path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
            )
            continue
        with zf.open(info) as member:
            out[name] = np.lib.format.read_array(member, allow_pickle=False)
    return out


def open_npz(path: Path) -> dict[str, np.ndarray | StoredArray]:
    """Every array of an uncompressed ``.npz``: large C-order ones as :class:`StoredArray` (read on demand).

    Small, compressed, Fortran-order and object members are read into memory.

    Raises
    ------
    ValueError, OSError, zipfile.BadZipFile
        The file is not a readable ``.npz``.
    """
    for _ in range(3):
        handle = _OpenFile(path)  # opened first: the offsets below must be this inode's
        out: dict[str, np.ndarray | StoredArray] = {}
        for name, info, zf, where in _members(path):
            if where is not None and not where[2] and info.file_size >= MMAP_MIN_BYTES:
                offset, shape, _, dtype = where
                out[name] = StoredArray(path, offset=offset, dtype=dtype, shape=shape, file=handle)
                continue
            with zf.open(info) as member:
                out[name] = np.lib.format.read_array(member, allow_pickle=False)
        if os.fstat(handle.fd).st_ino == os.stat(path).st_ino:
            return out
    msg = f"{path} keeps being replaced while it is opened"
    raise OSError(msg)
