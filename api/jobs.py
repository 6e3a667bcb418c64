"""The pool of processes that runs background jobs for this server process, and its job watch.

Each server worker keeps one pool (``SKILLCIRCLE_JOB_PROCESSES`` processes, default 1), started on
the first job with the ``spawn`` method (a clean interpreter: no copy of the server's threads, sockets
or database connections). A job runs there, off the request threads and outside this process's GIL,
so ``/nearby`` and the pages keep answering while a 50,000-row sheet imports; job processes run at
a lower CPU priority (nice +10), so on a busy host the requests go first. The job's state lives
in the database (:mod:`geo.jobs`), so any worker answers for it. A pool whose process died (killed,
out of memory) is replaced, and its job is marked failed (``job_interrupted``).

The *job watch* (a daemon thread per server process, started with the app) writes the heartbeat of
the jobs still waiting in this process's pool, and reports the jobs of dead runners (any server's)
failed, every :func:`geo.jobs.heartbeat_every_s`. A job process whose server has gone (killed with
``kill -9``; a server stopped cleanly waits for its jobs) finishes the job it is running, heartbeats
and all, then exits; it starts no other.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor

from api.periodic import PeriodicTask
from geo.config import get_settings
from geo.jobs import beat_queued, fail_job, heartbeat_every_s, interrupted_error, run_import_job, sweep_interrupted_jobs

log = logging.getLogger(__name__)
JOB_NICENESS = 10
PARENT_CHECK_S = 1.0
_POOL: ProcessPoolExecutor | None = None
_LOCK = threading.Lock()
_WAITING: set[str] = set()  # jobs this process submitted that have not ended (the queued ones get heartbeats)


def _pool() -> ProcessPoolExecutor:
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ProcessPoolExecutor(
                max_workers=get_settings().job_processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_job_process_start,
            )
        return _POOL


def _background_priority() -> None:
    """In a job process: yield the CPU to the request-serving processes (nice +10)."""
    try:
        os.nice(JOB_NICENESS)
    except OSError:  # not permitted here: run at normal priority
        log.warning("job process could not lower its priority")


# -- in a job process: outliving the server --------------------------------------------------------

_STATE = threading.Lock()
_busy = False
_orphaned = False


def _job_process_start() -> None:
    """In a job process: lower the priority, and watch for the server's death."""
    _background_priority()
    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="job-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Exit when the server that started this process has died (at once if idle, else after the job)."""
    global _orphaned
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    with _STATE:
        _orphaned = True
        if not _busy:
            os._exit(0)
    log.warning("job process %d: its server died; finishing the running job, then exiting", os.getpid())


def _run_job(job_id: str) -> str:
    """Run job ``job_id`` in this job process, unless its server has died (the job then stays queued,
    and its heartbeat stops: it is reported interrupted)."""
    global _busy
    with _STATE:
        if _orphaned:
            os._exit(0)
        _busy = True
    try:
        return run_import_job(job_id)
    finally:
        with _STATE:
            _busy = False
            if _orphaned:
                os._exit(0)


# -- in the server process -------------------------------------------------------------------------


def _forget_pool(pool: ProcessPoolExecutor) -> None:
    global _POOL
    with _LOCK:
        if _POOL is pool:
            _POOL = None
    pool.shutdown(wait=False, cancel_futures=False)


def submit_import(job_id: str) -> Future:
    """Run import job ``job_id`` in the pool; a crash of its process marks the job failed."""
    pool = _pool()
    with _LOCK:
        _WAITING.add(job_id)
    try:
        future = pool.submit(_run_job, job_id)
    except BaseException:
        with _LOCK:
            _WAITING.discard(job_id)  # no heartbeat for it: it is reported interrupted after the limit
        raise

    def _done(fut: Future) -> None:
        with _LOCK:
            _WAITING.discard(job_id)
        exc = fut.exception()
        if exc is None:
            return
        log.error("job %s: its process failed: %r", job_id, exc)
        from geo.db import session_scope

        try:
            with session_scope() as session:
                fail_job(session, job_id, interrupted_error("job_process_died", process_error=type(exc).__name__))
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


class JobWatch(PeriodicTask):
    """A daemon thread: heartbeats of this process's queued jobs, and the sweep of dead runners' jobs.

    Its first round runs at once: a server starting after a crash reports its dead jobs."""

    thread_name = "job-watch"

    def __init__(self, *, every_s: float) -> None:
        super().__init__(every_s=every_s, first_delay_s=0.0)

    def tick(self) -> None:
        """One round: beat this process's queued jobs, then sweep (errors are logged, never raised)."""
        from geo.db import session_scope

        with _LOCK:
            waiting = sorted(_WAITING)
        try:
            with session_scope() as session:
                beat_queued(session, waiting)
            sweep_interrupted_jobs()
        except Exception:  # a failed round must not kill the thread; the next one retries
            log.exception("job watch round failed")


def job_watch() -> JobWatch:
    """The job watch configured by the settings."""
    return JobWatch(every_s=heartbeat_every_s())
