"""Background jobs: sheet imports that run off the request threads, with their state in the database.

An upload becomes a :class:`~geo.models.Job` row (``queued``) plus the uploaded file under
``var/jobs/``; :func:`run_import_job` then runs in a separate process (``api/jobs.py`` keeps the
pool), marks the job ``running``, reports progress (phase, rows done, rows in total) as it goes and
ends it ``succeeded`` with the import report, or ``failed`` with the error, including the
row-numbered report of a rejected sheet. The import itself is the same all-or-nothing
:func:`geo.importer.import_sheet` the CLI runs, in one transaction that also bumps the registry
version, so every worker re-indexes, and that also marks the job ``succeeded``: the rows and the
verdict are committed together, or neither is. Because the state is in the database, any worker
process can answer ``GET /api/v1/admin/jobs/{id}``.

**Heartbeats.** A queued or running job names its *runner* (``jobs.runner``: the server process that
took the upload while the job is queued, the job's own process once it runs) and carries the time
the runner last said it is alive (``jobs.heartbeat_at``, the database server's clock, so hosts'
clocks need not agree). The job's process writes it every :func:`heartbeat_every_s` from a thread of
its own (and with every progress report); the server writes it for the jobs still waiting in its
pool. A job whose heartbeat is older than ``SKILLCIRCLE_JOB_INTERRUPTED_AFTER_S`` has lost its
runner (the server was killed, restarted or ran out of memory, or the host went down):
:func:`fail_interrupted_jobs` reports it ``failed`` with ``job_interrupted``. Any server does so when
a job is read or listed, and every few seconds from its job watch. On the runner's own machine a
process that is provably alive (same process id, same start time, not a zombie) is never declared
dead, whatever its heartbeat: with SQLite one import saving holds the only write lock for tens of
seconds, and the other jobs cannot write their heartbeats meanwhile. Every change of a job's state is
a conditional update (``WHERE status = …``), so a job is ended once: if a runner that was declared
dead turns out to be alive, its import is rolled back and the job stays ``job_interrupted``.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo.clock import iso
from geo.config import get_settings
from geo.db import rows_changed, session_scope
from geo.errors import JobFailedError, JobInterruptedError, JobNotFoundError, SkillCircleError
from geo.models import Job

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.5
STATUSES = ("queued", "running", "succeeded", "failed")
ACTIVE = ("queued", "running")
HEARTBEATS_PER_LIMIT = 6  # a runner misses this many heartbeats in a row before its job is declared dead
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


def jobs_dir() -> Path:
    """Where uploaded files wait for their job (removed when the job ends)."""
    return get_settings().var_dir / "jobs"


def heartbeat_every_s() -> float:
    """How often a runner writes its heartbeat: a sixth of ``job_interrupted_after_s``, at most 10 s."""
    return min(10.0, max(0.2, get_settings().job_interrupted_after_s / HEARTBEATS_PER_LIMIT))


def db_now(session: Session) -> datetime:
    """Now, by the database server's clock where it is another machine (PostgreSQL), in UTC.

    Heartbeats are written and compared with this clock, so servers on hosts whose clocks disagree
    still agree on how old a heartbeat is. SQLite lives on this machine: its clock is this one.
    """
    if session.get_bind().dialect.name == "postgresql":
        value: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


# -- who runs a job ------------------------------------------------------------------------------


@cache
def _host_key() -> str:
    """This machine's boot and process-id namespace (Linux), or "" where they cannot be read.

    Two processes with the same key see the same process ids; a reboot changes the key.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}:{namespace.removeprefix('pid:').strip('[]')}"


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot, from ``/proc``); None if it is not running
    (no such process, or a zombie that has ended but was not reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (command)": state, ppid, … (man 5 proc)
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return None
    return fields[19]


@cache
def _runner_id(pid: int) -> str:
    return f"{socket.gethostname()[:60]}/{pid}/{_process_start(pid) or ''}/{_host_key()}"


def runner_id() -> str:
    """This process as a job's runner: ``host/pid/start/host-key`` (what ``jobs.runner`` holds)."""
    return _runner_id(os.getpid())


def runner_alive_here(runner: str | None) -> bool | None:
    """Whether the process ``runner`` names is alive, when it ran on this machine (True or False);
    None when that cannot be known here (another machine, or no ``/proc``): its heartbeat decides."""
    parts = (runner or "").split("/")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2] or not parts[3] or parts[3] != _host_key():
        return None
    return _process_start(int(parts[1])) == parts[2]


def _runner_label(runner: str | None) -> str | None:
    """``host/pid`` of a runner, for an operator reading a job's error."""
    parts = (runner or "").split("/")
    return "/".join(parts[:2]) if len(parts) >= 2 else None


# -- the job's rows ------------------------------------------------------------------------------


def create_import_job(
    session: Session,
    *,
    city: str,
    kind: str,
    crs: str,
    filename: str,
    data: bytes,
    actor: str,
    sheet: str | None = None,
) -> Job:
    """Store the upload and a ``queued`` import job in ``session`` (the caller commits, then submits it).

    This process is the job's runner until a job process takes it (it writes the queued job's heartbeat).
    """
    job_id = secrets.token_hex(16)
    folder = jobs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(filename).suffix.lower()
    if not _SUFFIX.fullmatch(suffix):
        suffix = ""
    path = folder / f"{job_id}{suffix}"
    path.write_bytes(data)
    job = Job(
        id=job_id,
        kind=f"import:{kind}",
        city=city,
        actor=actor,
        status="queued",
        phase="queued",
        done=0,
        params={
            "kind": kind,
            "crs": crs,
            "sheet": sheet,
            "filename": filename[:200],
            "path": str(path),
            "bytes": len(data),
        },
        runner=runner_id(),
        heartbeat_at=db_now(session),
    )
    session.add(job)
    return job


def get_job(session: Session, job_id: str) -> Job:
    """The job ``job_id`` (raises :class:`JobNotFoundError`)."""
    job = session.get(Job, job_id) if re.fullmatch(r"[0-9a-f]{32}", job_id or "") else None
    if job is None:
        msg = f"no job with id {job_id!r}"
        raise JobNotFoundError(msg, message_zh=f"找不到编号为“{job_id}”的任务", details={"id": job_id})
    return job


def job_json(job: Job) -> dict[str, Any]:
    """The public form of a job: status, progress, and the report or the error when it has ended."""
    if job.total:
        percent = round(100.0 * job.done / job.total, 1)
    else:
        percent = 100.0 if job.status == "succeeded" else 0.0
    return {
        "id": job.id,
        "kind": job.kind,
        "city": job.city,
        "status": job.status,
        "progress": {
            "phase": job.phase,
            "done": job.done,
            "total": job.total,
            "percent": percent,
        },
        "filename": job.params.get("filename"),
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "heartbeat_at": iso(job.heartbeat_at),
        "result": job.result,
        "error": job.error,
    }


def interrupted_error(reason: str, **details: Any) -> dict[str, Any]:
    """The ``error`` of a job whose process stopped before it ended (``job_interrupted``).

    ``reason``: ``no_heartbeat`` (its runner stopped writing: the server or the host went down) or
    ``job_process_died`` (the server saw its job process die).
    """
    if reason == "job_process_died":
        en = "the import job was interrupted: its process ended unexpectedly (killed, or out of memory)"
        zh = "导入任务被中断：运行它的进程意外退出（被终止或内存不足）"
    else:
        en = (
            "the import job was interrupted: the server process running it stopped before it finished "
            "(killed, restarted, out of memory, or its host went down)"
        )
        zh = "导入任务被中断：运行它的服务器进程在任务完成前停止了（被终止、重启、内存不足或主机宕机）"
    en += ". Nothing of this sheet was imported; upload it again"
    zh += "。这份表格的数据一条也没有导入，请重新上传。"
    return JobInterruptedError(en, message_zh=zh, details={"reason": reason, **details}).to_dict()["error"]


def failed_error(exc: BaseException) -> dict[str, Any]:
    """The ``error`` of a job that stopped on an unexpected error (``job_failed``; the error is logged)."""
    en = f"the import job stopped unexpectedly ({type(exc).__name__}); it has been logged, and nothing was written"
    zh = "导入任务意外中止，已记录，未写入任何数据"
    return JobFailedError(en, message_zh=zh).to_dict()["error"]


def _last_sign_of_life() -> ColumnElement[datetime]:
    """A job's heartbeat; for jobs from before heartbeats, its start or queue time."""
    return func.coalesce(Job.heartbeat_at, Job.started_at, Job.created_at)


def fail_job(session: Session, job_id: str, error: dict[str, Any]) -> bool:
    """End job ``job_id`` ``failed`` with ``error`` if it has not ended yet (and delete its upload);
    whether it was this call that ended it."""
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_(ACTIVE))
        .values(status="failed", phase="failed", error=error, finished_at=db_now(session))
        .execution_options(synchronize_session=False)
    )
    if rows_changed(session, stmt) != 1:
        return False
    params = session.execute(select(Job.params).where(Job.id == job_id)).scalar_one()
    _remove_upload(params)
    return True


def fail_interrupted_jobs(session: Session) -> list[str]:
    """Report every job whose runner has died ``failed`` (``job_interrupted``); the ids of those ended.

    A queued or running job is dead when its heartbeat is older than ``job_interrupted_after_s`` and
    its runner is not a process alive on this machine. Its uploaded file is deleted when it is here.
    The caller commits. Idempotent, and safe for any number of servers at once: each job is ended by
    a conditional update, once.
    """
    limit = get_settings().job_interrupted_after_s
    now = db_now(session)
    cutoff = now - timedelta(seconds=limit)
    last = _last_sign_of_life()
    stale = session.execute(
        select(Job.id, Job.status, Job.phase, Job.runner, Job.params, last.label("last")).where(
            Job.status.in_(ACTIVE), last < cutoff
        )
    ).all()
    ended = []
    for row in stale:
        if runner_alive_here(row.runner):
            continue  # alive on this machine: its heartbeat waits for a write lock (SQLite), it is not lost
        error = interrupted_error(
            "no_heartbeat",
            status=row.status,
            phase=row.phase,
            last_heartbeat_at=iso(row.last),
            runner=_runner_label(row.runner),
            limit_s=limit,
        )
        stmt = (
            update(Job)
            .where(Job.id == row.id, Job.status.in_(ACTIVE), last < cutoff)
            .values(status="failed", phase="failed", error=error, finished_at=now)
            .execution_options(synchronize_session=False)
        )
        if rows_changed(session, stmt) == 1:
            ended.append(row.id)
            log.warning("job %s: no heartbeat since %s (runner %s): reported interrupted", row.id, row.last, row.runner)
            _remove_upload(row.params)
    return ended


def sweep_interrupted_jobs() -> list[str]:
    """:func:`fail_interrupted_jobs` in a session of its own; a database error is logged, not raised
    (a sweep is a courtesy to whoever reads the jobs next; the next one retries)."""
    try:
        with session_scope() as session:
            return fail_interrupted_jobs(session)
    except DBAPIError as exc:
        log.warning("interrupted-job sweep failed: %s", exc.orig)
        return []


def beat_queued(session: Session, job_ids: list[str]) -> int:
    """Write the heartbeat of those of ``job_ids`` still queued with this process as their runner."""
    if not job_ids:
        return 0
    stmt = (
        update(Job)
        .where(Job.id.in_(job_ids), Job.status == "queued", Job.runner == runner_id())
        .values(heartbeat_at=db_now(session))
        .execution_options(synchronize_session=False)
    )
    return rows_changed(session, stmt)


def _remove_upload(params: dict[str, Any]) -> None:
    """Delete a job's uploaded file if it is in this machine's job folder."""
    path = Path(str(params.get("path") or ""))
    if path.name and path.parent == jobs_dir():
        path.unlink(missing_ok=True)


# -- running a job (in a job process) ------------------------------------------------------------


class _Superseded(Exception):
    """The job was declared dead while this process ran it: stop, and roll the import back."""


def _set_running(session: Session, job_id: str, runner: str, **values: Any) -> bool:
    """Update job ``job_id`` if it is still running with ``runner`` as its runner; whether it was."""
    stmt = (
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.runner == runner)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(session, stmt) == 1


def _end(session: Session, job_id: str, runner: str, **values: Any) -> bool:
    return _set_running(session, job_id, runner, finished_at=db_now(session), **values)


class _Heartbeat:
    """Writes a running job's heartbeat every :func:`heartbeat_every_s` from a thread of its process,
    whatever the import is doing; sets ``superseded`` when the job was declared dead meanwhile."""

    def __init__(self, job_id: str, runner: str) -> None:
        self.job_id = job_id
        self.runner = runner
        self.superseded = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-heartbeat-{job_id[:8]}", daemon=True)

    def start(self) -> None:
        """Start beating."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (the job has ended)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        every = heartbeat_every_s()
        while not self._stop.wait(every):
            try:
                with session_scope() as session:
                    alive = _set_running(session, self.job_id, self.runner, heartbeat_at=db_now(session))
            except DBAPIError as exc:  # e.g. SQLite's write lock held by an import saving: beat again later
                log.warning("job %s: heartbeat not recorded: %s", self.job_id, exc.orig)
                continue
            if not alive and not self._stop.is_set():
                self.superseded.set()
                return


class _ProgressWriter:
    """Writes a job's progress (and heartbeat) to its row at most every ``PROGRESS_EVERY_S`` (best
    effort); stops the import when the job was declared dead meanwhile."""

    def __init__(self, job_id: str, runner: str, superseded: threading.Event) -> None:
        self.job_id = job_id
        self.runner = runner
        self.superseded = superseded
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.superseded.is_set():
            raise _Superseded
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and done != total:
            return
        self.last = now
        try:
            with session_scope() as session:
                values = {"phase": phase, "done": done, "total": total or None, "heartbeat_at": db_now(session)}
                alive = _set_running(session, self.job_id, self.runner, **values)
        except DBAPIError as exc:  # progress is informative: never fail the import for it
            log.warning("job %s: progress not recorded: %s", self.job_id, exc.orig)
            return
        if not alive:
            self.superseded.set()
            raise _Superseded


def run_import_job(job_id: str) -> str:
    """Run a queued import job to its end (in a worker process); returns its final status."""
    from geo.cities import load_city
    from geo.importer import import_sheet

    me = runner_id()
    with session_scope() as session:
        now = db_now(session)
        taken = rows_changed(
            session,
            update(Job)
            .where(Job.id == job_id, Job.status == "queued")
            .values(status="running", phase="reading", started_at=now, heartbeat_at=now, runner=me)
            .execution_options(synchronize_session=False),
        )
        job = session.get(Job, job_id)
        if job is None:
            return "missing"
        if not taken:  # ended already (e.g. reported interrupted while it waited)
            _remove_upload(job.params)
            return job.status
        params, city_key, actor = dict(job.params), job.city, job.actor
    path = Path(params["path"])
    heartbeat = _Heartbeat(job_id, me)
    heartbeat.start()
    try:
        with session_scope() as session:
            report = import_sheet(
                session,
                load_city(city_key),
                path.read_bytes(),
                kind=params["kind"],
                crs=params["crs"],
                filename=params["filename"],
                sheet=params.get("sheet"),
                actor=actor,
                progress=_ProgressWriter(job_id, me, heartbeat.superseded),
            )
            result = report.to_dict()
            rows = result["rows"]
            # the verdict in the import's own transaction: the rows and "succeeded" commit together
            if not _end(session, job_id, me, status="succeeded", phase="done", done=rows, total=rows, result=result):
                raise _Superseded
        return "succeeded"
    except _Superseded:
        log.warning("job %s was reported interrupted while it ran; its import was rolled back", job_id)
        return "failed"
    except SkillCircleError as exc:
        with session_scope() as session:
            _end(session, job_id, me, status="failed", phase="failed", error=exc.to_dict()["error"])
        return "failed"
    except Exception as exc:
        log.exception("job %s crashed", job_id)
        with session_scope() as session:
            _end(session, job_id, me, status="failed", phase="failed", error=failed_error(exc))
        return "failed"
    finally:
        heartbeat.stop()
        path.unlink(missing_ok=True)
