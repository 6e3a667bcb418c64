"""``/api/v1/admin/jobs``: background jobs (sheet imports): status, progress and report.

A job's state is in the database, so whichever worker process answers, it reports the same job.
Before answering, jobs whose runner has died are reported failed (``job_interrupted``, see
:mod:`geo.jobs`), so a job never stays ``running`` after its server went down.
Needs a token with the ``resources:write`` scope, like the upload that started the job.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select

from api.deps import DbSession, require_scope
from api.schemas import ErrorResponse, JobOut
from geo.jobs import get_job, job_json, sweep_interrupted_jobs
from geo.models import ApiToken, Job

router = APIRouter(
    prefix="/api/v1/admin/jobs",
    tags=["admin"],
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
Writer = Annotated[ApiToken, Depends(require_scope("resources:write"))]


@router.get("/{job_id}", response_model=JobOut, summary="A job's state")
def job_status(db: DbSession, token: Writer, job_id: Annotated[str, Path(max_length=64)]) -> dict:
    """Status (queued, running, succeeded, failed), progress (phase, rows done of total), and once it
    has ended its import report, or its error with the row-numbered report of a rejected sheet. A job
    whose process stopped before it ended is ``failed`` with ``job_interrupted``: upload the sheet again."""
    sweep_interrupted_jobs()
    return job_json(get_job(db, job_id))


@router.get("", response_model=list[JobOut], summary="Recent jobs, newest first")
def recent_jobs(db: DbSession, token: Writer, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict]:
    """The newest jobs of every city (for an operator's overview)."""
    sweep_interrupted_jobs()
    return [job_json(j) for j in db.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit))]
