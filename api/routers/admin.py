"""``/api/v1/admin``: the write side (resources, classes, evaluations, sheet uploads, audit log).

Every endpoint needs an API token (``skillcircle token create``) with the right scope, sent as
``Authorization: Bearer <token>``; every write is recorded in the audit log in the same transaction.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile

from api.deps import City, DbSession, Runtime, require_scope
from api.jobs import submit_import
from api.schemas import (
    ClassIn,
    ClassOut,
    ErrorResponse,
    EvaluationIn,
    EvaluationOut,
    JobAccepted,
    ResourceIn,
    ResourceOut,
)
from api.services import events, resources
from geo.audit import recent_entries
from geo.clock import aware
from geo.config import get_settings
from geo.editing import ENTITY
from geo.errors import PayloadTooLargeError
from geo.jobs import create_import_job
from geo.models import ApiToken
from geo.text_input import Line

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    responses={
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        409: {"model": ErrorResponse, "description": "a record with that external id exists (`conflict`)"},
        422: {"model": ErrorResponse},
    },
)
Writer = Annotated[ApiToken, Depends(require_scope("resources:write"))]
Admin = Annotated[ApiToken, Depends(require_scope("admin"))]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/resources", response_model=ResourceOut, status_code=201, summary="Create a resource")
def create_resource(db: DbSession, city: City, runtime: Runtime, body: ResourceIn, token: Writer) -> ResourceOut:
    """Create a resource of ``city``; its point is converted to WGS84 and must lie in a district."""
    res = resources.create_resource(db, city, body, actor=token.name)
    db.commit()
    runtime.invalidate()
    return ResourceOut.of(res)


@router.put("/resources/{resource_id}", response_model=ResourceOut, summary="Replace a resource")
def update_resource(
    db: DbSession, city: City, runtime: Runtime, resource_id: Id, body: ResourceIn, token: Writer
) -> ResourceOut:
    """Replace every field of a resource; the audit log records what changed."""
    res = resources.replace_resource(db, city, resource_id, body, actor=token.name)
    db.commit()
    runtime.invalidate()
    return ResourceOut.of(res)


@router.delete("/resources/{resource_id}", status_code=204, summary="Delete a resource (and its classes)")
def delete_resource(db: DbSession, city: City, runtime: Runtime, resource_id: Id, token: Writer) -> None:
    """Delete a resource with its classes and evaluations; skill codes pointing at it report it as broken."""
    resources.delete_resource(db, city, resource_id, actor=token.name)
    db.commit()
    runtime.invalidate()


_SCHEMAS: dict[str, tuple[type[ClassIn] | type[EvaluationIn], type[ClassOut] | type[EvaluationOut]]] = {
    "classes": (ClassIn, ClassOut),
    "evaluations": (EvaluationIn, EvaluationOut),
}


def _event_routes(kind: str) -> None:
    schema_in, schema_out = _SCHEMAS[kind]

    # FastAPI needs this kind's classes as annotations; mypy accepts no variable as a type (valid-type)
    def create(db: DbSession, city: City, body: schema_in, token: Writer) -> schema_out:  # type: ignore[valid-type]
        obj = events.create_event(db, city, kind, body, actor=token.name)
        db.commit()
        db.refresh(obj)
        return schema_out.of(obj)

    def update(db: DbSession, city: City, event_id: Id, body: schema_in, token: Writer) -> schema_out:  # type: ignore[valid-type]
        obj = events.replace_event(db, city, kind, event_id, body, actor=token.name)
        db.commit()
        db.refresh(obj)
        return schema_out.of(obj)

    def delete(db: DbSession, city: City, event_id: Id, token: Writer) -> None:
        events.delete_event(db, city, kind, event_id, actor=token.name)
        db.commit()

    # the route functions are built per kind: give FastAPI the real classes, not postponed strings
    for fn in (create, update):
        fn.__annotations__.update({"body": schema_in, "return": schema_out})
    single = ENTITY[kind]
    router.add_api_route(
        f"/{kind}", create, methods=["POST"], status_code=201, response_model=schema_out, summary=f"Create a {single}"
    )
    router.add_api_route(
        f"/{kind}/{{event_id}}", update, methods=["PUT"], response_model=schema_out, summary=f"Replace a {single}"
    )
    router.add_api_route(
        f"/{kind}/{{event_id}}", delete, methods=["DELETE"], status_code=204, summary=f"Delete a {single}"
    )


for _kind in _SCHEMAS:
    _event_routes(_kind)


@router.post(
    "/import",
    status_code=202,
    response_model=JobAccepted,
    summary="Upload a CSV/XLSX/GeoJSON sheet: imported in a background job, all rows or none",
    responses={413: {"model": ErrorResponse}},
)
async def upload_sheet(
    response: Response,
    db: DbSession,
    city: City,
    token: Writer,
    file: Annotated[UploadFile, File(description="resources/classes/evaluations sheet")],
    kind: Annotated[Literal["resources", "classes", "evaluations"], Form()] = "resources",
    crs: Annotated[Literal["wgs84", "gcj02", "bd09"], Form()] = "wgs84",
    sheet: Annotated[
        Line | None, Form(max_length=100, description="XLSX worksheet (default: the first visible one)")
    ] = None,
) -> JobAccepted:
    """Store the sheet and answer 202 at once with a job id; a background process validates every row,
    then writes all of them in one transaction, or none with a row-numbered report
    (``GET /api/v1/admin/jobs/{job_id}``)."""
    limit = int(get_settings().max_upload_mb * 1024 * 1024)
    data = await file.read(limit + 1)
    if len(data) > limit:
        msg = f"upload larger than {get_settings().max_upload_mb} MB"
        raise PayloadTooLargeError(msg, message_zh=f"上传文件超过 {get_settings().max_upload_mb} MB")
    job = create_import_job(
        db,
        city=city.key,
        kind=kind,
        crs=crs,
        filename=file.filename or "upload.csv",
        sheet=sheet,
        data=data,
        actor=token.name,
    )
    db.commit()
    submit_import(job.id)
    status_url = f"/api/v1/admin/jobs/{job.id}"
    response.headers["Location"] = status_url
    return JobAccepted(job_id=job.id, status=job.status, status_url=status_url)


@router.get("/audit", summary="The audit log, newest first")
def audit_log(
    db: DbSession,
    token: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    entity: Annotated[str | None, Query(max_length=40)] = None,
) -> list[dict]:
    """Who changed what, when (admin scope)."""
    return [
        {
            "id": a.id,
            "at": aware(a.at),
            "actor": a.actor,
            "action": a.action,
            "entity": a.entity,
            "entity_id": a.entity_id,
            "changes": a.changes,
        }
        for a in recent_entries(db, limit=limit, entity=entity)
    ]
