"""``/api/v1/admin``: the write side (resources, classes, evaluations, sheet uploads, audit log).

Every endpoint needs an API token (``skillcircle token create``) with the right scope, sent as
``Authorization: Bearer <token>``; every write is recorded in the audit log in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile
from sqlalchemy import select

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
from api.services.resources import get_resource
from geo.audit import record
from geo.categories import parse_category
from geo.cities import CityPack
from geo.clock import aware
from geo.config import get_settings
from geo.coords import to_wgs84
from geo.errors import ConflictError, InvalidParameterError, NotFoundError, PayloadTooLargeError
from geo.jobs import create_import_job
from geo.models import ApiToken, AuditEntry, Evaluation, Resource, ResourceSkill, TrainingClass
from geo.signups import promote
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


def _snapshot(obj: Any, fields: list[str]) -> dict:
    return {f: getattr(obj, f) for f in fields}


def _diff(before: dict, after: dict) -> dict:
    return {k: {"from": before.get(k), "to": v} for k, v in after.items() if before.get(k) != v}


_RESOURCE_FIELDS = [
    "external_id",
    "name",
    "category",
    "district",
    "town",
    "address",
    "lon",
    "lat",
    "phone",
    "opening_hours",
    "reg_steps",
    "reg_url",
    "reg_phone",
    "subsidy_eligible",
    "subsidy_note",
    "seats",
    "source",
    "is_sample",
]


def _apply_resource(db: DbSession, city: CityPack, res: Resource, body: ResourceIn) -> None:
    from geo.boundaries import district_of, districts
    from geo.land import check_on_land

    lon, lat = to_wgs84(body.lon, body.lat, crs=body.crs)
    lon, lat = float(lon), float(lat)
    city.check_point(lon, lat)
    code = district_of([lon], [lat], city)[0]
    if code is None:
        msg = f"point ({lon:.5f}, {lat:.5f}) lies outside every district of {city.name_en}"
        raise InvalidParameterError(
            msg, message_zh=f"坐标（{lon:.5f}, {lat:.5f}）不在{city.name_zh}任何区县内", code="outside_service_area"
        )
    check_on_land(lon, lat, city)
    names = dict(zip(districts(city)["adcode"], districts(city)["name_zh"], strict=True))
    clash = db.scalar(
        select(Resource.id).where(
            Resource.city == city.key, Resource.external_id == body.external_id, Resource.id != (res.id or 0)
        )
    )
    if clash is not None:
        msg = f"external_id {body.external_id!r} is already used by resource {clash}"
        raise ConflictError(msg, message_zh=f"编号“{body.external_id}”已被资源 {clash} 使用")
    res.external_id = body.external_id
    res.name = body.name
    res.category = parse_category(body.category)
    res.district = body.district or names.get(code)
    res.town = body.town
    res.address = body.address
    res.lon, res.lat = lon, lat
    res.phone = body.phone
    res.opening_hours = body.opening_hours
    res.reg_steps = list(body.registration.steps)
    res.reg_url = body.registration.url
    res.reg_phone = body.registration.phone
    res.subsidy_eligible = body.subsidy.eligible
    res.subsidy_note = body.subsidy.note
    res.seats = body.seats
    res.source = body.source
    res.is_sample = body.is_sample
    res.skills = [ResourceSkill(name=s.name, code=s.code) for s in body.skills]
    res.updated_at = datetime.now(UTC)  # also when only the skills changed: other workers re-index on it


@router.post("/resources", response_model=ResourceOut, status_code=201, summary="Create a resource")
def create_resource(db: DbSession, city: City, runtime: Runtime, body: ResourceIn, token: Writer) -> ResourceOut:
    """Create a resource of ``city``; its point is converted to WGS84 and must lie in a district."""
    res = Resource(city=city.key)
    _apply_resource(db, city, res, body)
    db.add(res)
    db.flush()
    record(
        db,
        actor=token.name,
        action="create",
        entity="resource",
        entity_id=res.id,
        changes=_snapshot(res, _RESOURCE_FIELDS),
    )
    db.commit()
    runtime.invalidate()
    return ResourceOut.of(res)


@router.put("/resources/{resource_id}", response_model=ResourceOut, summary="Replace a resource")
def update_resource(
    db: DbSession, city: City, runtime: Runtime, resource_id: Id, body: ResourceIn, token: Writer
) -> ResourceOut:
    """Replace every field of a resource; the audit log records what changed."""
    res = get_resource(db, city, resource_id)
    before = _snapshot(res, _RESOURCE_FIELDS)
    _apply_resource(db, city, res, body)
    db.flush()
    record(
        db,
        actor=token.name,
        action="update",
        entity="resource",
        entity_id=res.id,
        changes=_diff(before, _snapshot(res, _RESOURCE_FIELDS)),
    )
    db.commit()
    runtime.invalidate()
    return ResourceOut.of(res)


@router.delete("/resources/{resource_id}", status_code=204, summary="Delete a resource (and its classes)")
def delete_resource(db: DbSession, city: City, runtime: Runtime, resource_id: Id, token: Writer) -> None:
    """Delete a resource with its classes and evaluations; skill codes pointing at it report it as broken."""
    res = get_resource(db, city, resource_id)
    record(
        db,
        actor=token.name,
        action="delete",
        entity="resource",
        entity_id=res.id,
        changes=_snapshot(res, _RESOURCE_FIELDS),
    )
    db.delete(res)
    db.commit()
    runtime.invalidate()


_EVENTS: dict[str, tuple[type, type, type]] = {
    "classes": (TrainingClass, ClassIn, ClassOut),
    "evaluations": (Evaluation, EvaluationIn, EvaluationOut),
}


def _event_fields(kind: str) -> list[str]:
    return list(_EVENTS[kind][1].model_fields)


def _get_event(db: DbSession, city: CityPack, kind: str, event_id: int) -> Any:
    model = _EVENTS[kind][0]
    obj = db.get(model, event_id)
    if obj is None or obj.city != city.key:
        msg = f"no {kind[:-1]} with id {event_id} in {city.key}"
        raise NotFoundError(msg, message_zh=f"找不到编号为 {event_id} 的记录", details={"id": event_id})
    return obj


def _apply_event(db: DbSession, city: CityPack, kind: str, obj: Any, body: Any) -> None:
    get_resource(db, city, body.resource_id)
    model = _EVENTS[kind][0]
    clash = db.scalar(
        select(model.id).where(model.city == city.key, model.external_id == body.external_id, model.id != (obj.id or 0))
    )
    if clash is not None:
        msg = f"external_id {body.external_id!r} is already used by {kind[:-1]} {clash}"
        raise ConflictError(msg, message_zh=f"编号“{body.external_id}”已被使用")
    if kind == "classes":
        if body.end_date < body.start_date:
            msg = "end_date is before start_date"
            raise InvalidParameterError(msg, message_zh="结束日期早于开始日期", code="bad_date_range")
        if body.seats_left > body.seats_total:
            msg = "seats_left exceeds seats_total"
            raise InvalidParameterError(msg, message_zh="剩余名额多于总名额", code="bad_seats")
    for field, value in body.model_dump().items():
        setattr(obj, field, value)


def _event_routes(kind: str) -> None:
    model, schema_in, schema_out = _EVENTS[kind]
    fields = _event_fields(kind)

    def create(db: DbSession, city: City, body: schema_in, token: Writer) -> schema_out:  # type: ignore[valid-type]
        obj = model(city=city.key)
        _apply_event(db, city, kind, obj, body)
        db.add(obj)
        db.flush()
        record(
            db, actor=token.name, action="create", entity=kind[:-1], entity_id=obj.id, changes=_snapshot(obj, fields)
        )
        db.commit()
        db.refresh(obj)
        return schema_out.of(obj)

    def update(db: DbSession, city: City, event_id: Id, body: schema_in, token: Writer) -> schema_out:  # type: ignore[valid-type]
        obj = _get_event(db, city, kind, event_id)
        before = _snapshot(obj, fields)
        _apply_event(db, city, kind, obj, body)
        db.flush()
        record(
            db,
            actor=token.name,
            action="update",
            entity=kind[:-1],
            entity_id=obj.id,
            changes=_diff(before, _snapshot(obj, fields)),
        )
        if kind == "classes":
            promote(db, obj.id)  # seats added through the API go to the waitlist first, in order
        db.commit()
        db.refresh(obj)
        return schema_out.of(obj)

    def delete(db: DbSession, city: City, event_id: Id, token: Writer) -> None:
        obj = _get_event(db, city, kind, event_id)
        record(
            db, actor=token.name, action="delete", entity=kind[:-1], entity_id=obj.id, changes=_snapshot(obj, fields)
        )
        db.delete(obj)
        db.commit()

    # the route functions are built per kind: give FastAPI the real classes, not postponed strings
    for fn in (create, update):
        fn.__annotations__.update({"body": schema_in, "return": schema_out})
    single = kind[:-1]
    router.add_api_route(
        f"/{kind}", create, methods=["POST"], status_code=201, response_model=schema_out, summary=f"Create a {single}"
    )
    router.add_api_route(
        f"/{kind}/{{event_id}}", update, methods=["PUT"], response_model=schema_out, summary=f"Replace a {single}"
    )
    router.add_api_route(
        f"/{kind}/{{event_id}}", delete, methods=["DELETE"], status_code=204, summary=f"Delete a {single}"
    )


for _kind in _EVENTS:
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
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
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
        for a in db.scalars(stmt)
    ]
