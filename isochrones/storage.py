"""Writing engine files atomically, safe with several worker processes writing the same cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz`` via a per-process temporary file.

    Readers never see a half-written file, and two processes building the same cache at once (uvicorn
    workers) each rename a complete file into place; the temporary name (hidden, with the process id,
    not ending in ``.npz``) never matches a cache glob such as ``car-*.npz``.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
