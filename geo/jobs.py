"""Background jobs: sheet imports that run off the request threads, with their state in the database.

An upload becomes a :class:`~geo.models.Job` row (``queued``) plus the uploaded file under
``var/jobs/``; :func:`run_import_job` then runs in a separate process (``api/jobs.py`` keeps the
pool), marks the job ``running``, reports progress (phase, rows done, rows in total) as it goes and
ends it ``succeeded`` with the import report, or ``failed`` with the error, including the
row-numbered report of a rejected sheet. The import itself is the same all-or-nothing
:func:`geo.importer.import_sheet` the CLI runs, in one transaction that also bumps the registry
version, so every worker re-indexes. Because the state is in the database, any worker process can
answer ``GET /api/v1/admin/jobs/{id}``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from geo.clock import iso
from geo.config import get_settings
from geo.db import session_scope
from geo.errors import JobNotFoundError, SkillCircleError
from geo.models import Job

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 0.5
STATUSES = ("queued", "running", "succeeded", "failed")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


def jobs_dir() -> Path:
    """Where uploaded files wait for their job (removed when the job ends)."""
    return get_settings().var_dir / "jobs"


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
    """Store the upload and a ``queued`` import job in ``session`` (the caller commits, then submits it)."""
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
        "result": job.result,
        "error": job.error,
    }


def _update(job_id: str, **values: Any) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is not None:
            for key, value in values.items():
                setattr(job, key, value)


class _ProgressWriter:
    """Writes a job's progress to its row at most every ``PROGRESS_EVERY_S`` (best effort)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY_S and done != total:
            return
        self.last = now
        try:
            _update(self.job_id, phase=phase, done=done, total=total or None)
        except DBAPIError as exc:  # progress is informative: never fail the import for it
            log.warning("job %s: progress not recorded: %s", self.job_id, exc.orig)


def run_import_job(job_id: str) -> str:
    """Run a queued import job to its end (in a worker process); returns its final status."""
    from geo.cities import load_city
    from geo.importer import import_sheet

    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != "queued":
            return job.status if job is not None else "missing"
        job.status, job.phase, job.started_at = "running", "reading", datetime.now(UTC)
        params, city_key, actor = dict(job.params), job.city, job.actor
    path = Path(params["path"])
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
                progress=_ProgressWriter(job_id),
            )
        result = report.to_dict()
        _update(
            job_id,
            status="succeeded",
            phase="done",
            done=result["rows"],
            total=result["rows"],
            result=result,
            finished_at=datetime.now(UTC),
        )
        return "succeeded"
    except SkillCircleError as exc:
        _update(job_id, status="failed", phase="failed", error=exc.to_dict()["error"], finished_at=datetime.now(UTC))
        return "failed"
    except Exception as exc:
        log.exception("job %s crashed", job_id)
        error = {
            "code": "job_failed",
            "message_zh": "导入任务意外中止，已记录，未写入任何数据",
            "message_en": f"the import job stopped unexpectedly ({type(exc).__name__}); nothing was written",
            "details": {},
        }
        _update(job_id, status="failed", phase="failed", error=error, finished_at=datetime.now(UTC))
        return "failed"
    finally:
        path.unlink(missing_ok=True)
