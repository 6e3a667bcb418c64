"""The C heap of a process serving the engine: large query temporaries reuse heap memory.

An isochrone allocates a few dozen numpy temporaries of 1–10 MiB per query (search results, sample
arrays, rasters). glibc's ``malloc`` serves blocks above its *mmap threshold* (128 KiB at start,
raised dynamically up to 32 MiB when a large mapped block is freed) with a fresh ``mmap`` whose pages
are faulted in on first touch and returned on ``free``. Measured on a 268k-node city (4-band e-bike
isochrone, 50 origins, load ≈ 0.5): a threshold held at 128 KiB makes the query ~53 ms instead of
~30 ms; the default dynamic threshold gave 33–36 ms; a threshold set at 32 MiB gave 31 ms at the same
serving RSS (the engine's memory is in mapped files and its own arrays, not in these temporaries).

:func:`reuse_heap_for_temporaries` sets that threshold once per process (``mallopt``), so the speed no
longer depends on which large blocks happened to be freed earlier. It does nothing where the C
library has no ``mallopt`` (not glibc).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: Blocks up to this size come from the heap (glibc's ceiling for its own dynamic threshold).
MMAP_THRESHOLD_BYTES = 32 << 20
#: Free memory at the top of the heap kept for reuse before it is returned to the system.
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done: list[bool] = []


def reuse_heap_for_temporaries() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once); True when they are set.

    Returns
    -------
    bool
        ``False`` where the C library has no ``mallopt`` or refused the values.
    """
    if _done:
        return _done[0]
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        _done.append(False)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    if not ok:
        log.warning("mallopt refused the engine's heap thresholds; large temporaries stay mapped")
    _done.append(ok)
    return ok
