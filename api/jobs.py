"""The pool of processes that runs background jobs for this server process.

Each server worker keeps one pool (``SKILLCIRCLE_JOB_PROCESSES`` processes, default 1), started on
the first job with the ``spawn`` method (a clean interpreter: no copy of the server's threads, sockets
or database connections). A job runs there, off the request threads and outside this process's GIL,
so ``/nearby`` and the pages keep answering while a 50,000-row sheet imports; job processes run at
a lower CPU priority (nice +10), so on a busy host the requests go first. The job's state lives
in the database (:mod:`geo.jobs`), so any worker answers for it. A pool whose process died (killed,
out of memory) is replaced, and its job is marked failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime

from geo.config import get_settings
from geo.jobs import run_import_job

log = logging.getLogger(__name__)
JOB_NICENESS = 10
_POOL: ProcessPoolExecutor | None = None
_LOCK = threading.Lock()


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(
                max_workers=get_settings().job_processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_background_priority,
            )
        return _POOL


def _background_priority() -> None:
    """In a job process: yield the CPU to the request-serving processes (nice +10)."""
    try:
        os.nice(JOB_NICENESS)
    except OSError:  # not permitted here: run at normal priority
        log.warning("job process could not lower its priority")


def _forget_pool(pool: ProcessPoolExecutor) -> None:
    global _POOL
    with _LOCK:
        if _POOL is pool:
            _POOL = None
    pool.shutdown(wait=False, cancel_futures=False)


def submit_import(job_id: str) -> Future:
    """Run import job ``job_id`` in the pool; a crash of its process marks the job failed."""
    pool = _pool()
    future = pool.submit(run_import_job, job_id)

    def _done(fut: Future) -> None:
        exc = fut.exception()
        if exc is None:
            return
        log.error("job %s: its process failed: %r", job_id, exc)
        from geo.jobs import _update

        error = {
            "code": "job_failed",
            "message_zh": "导入任务的进程意外退出，未写入任何数据",
            "message_en": f"the job's process ended unexpectedly ({type(exc).__name__}); nothing was written",
            "details": {},
        }
        try:
            _update(job_id, status="failed", phase="failed", error=error, finished_at=datetime.now(UTC))
        finally:
            _forget_pool(pool)

    future.add_done_callback(_done)
    return future


def shutdown() -> None:
    """Stop the pool (at server shutdown); running jobs finish first."""
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=True)
