"""Pydantic schemas of the public API, kept apart from the SQLAlchemy models (as in FastAPI's template)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from geo.categories import CATEGORY_BY_KEY, LEVEL_BY_NUMBER, SCHEDULES
from geo.clock import aware, city_today
from geo.models import Evaluation, Resource, TrainingClass
from geo.signups import class_problem
from geo.text_input import Line, MultiLine

Crs = Literal["wgs84", "gcj02", "bd09"]
# Bounds on written numbers keep every value storable (32-bit integers in SQLite and PostgreSQL).
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Money = Annotated[float, Field(ge=0, le=10_000_000)]
Mode = Literal["walk", "bicycle", "ebike", "car"]

# every timestamp goes out with its offset (stored as UTC; SQLite returns it without a zone)
Timestamp = Annotated[datetime, AfterValidator(aware)]

SAMPLE_NOTICE = {
    "zh": "示例数据：本页机构为样例，不是真实机构。",
    "en": "Sample data: the resources shown are a labelled sample, not real institutions.",
}
ESTIMATE_NOTICE = {
    "zh": "估算：尚无路网，通行时间按直线距离乘以绕行系数估算。",
    "en": "Estimate: no road network yet; travel times are straight-line distance times a detour factor.",
}


class ErrorBody(BaseModel):
    """An error: stable code, Chinese and English message, details."""

    code: str
    message_zh: str
    message_en: str
    details: dict[str, Any] = {}


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: ErrorBody


COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorResponse,
        "description": "unknown city, or no such record or job (`unknown_city`, `not_found`, `job_not_found`)",
    },
    429: {"model": ErrorResponse, "description": "rate limited (`rate_limited`), with Retry-After"},
    503: {"model": ErrorResponse, "description": "the database is unavailable (`database_unavailable`)"},
}
"""Error answers any API route can give, documented on every route (the fuzz test checks the schema)."""


class Skill(BaseModel):
    """A skill (工种) with its national occupation code where known."""

    name: str
    code: str | None = None


class Registration(BaseModel):
    """How to sign up."""

    steps: list[str] = []
    url: str | None = None
    phone: str | None = None


class Subsidy(BaseModel):
    """Subsidy / voucher eligibility."""

    eligible: bool = False
    note: str | None = None


class ResourceOut(BaseModel):
    """A training or evaluation place."""

    id: int
    external_id: str
    name: str
    category: str
    category_label: str
    district: str | None = None
    town: str | None = None
    address: str | None = None
    lon: float
    lat: float
    crs: Crs = "wgs84"
    skills: list[Skill] = []
    phone: str | None = None
    opening_hours: str | None = None
    registration: Registration
    subsidy: Subsidy
    seats: int | None = None
    source: str | None = None
    is_sample: bool
    updated_at: Timestamp | None = None

    @classmethod
    def of(cls, res: Resource, *, lang: str = "zh", crs: Crs = "wgs84") -> ResourceOut:
        """Build from a model row, with coordinates converted to ``crs``."""
        from geo.coords import from_wgs84

        lon, lat = from_wgs84(res.lon, res.lat, crs=crs)
        return cls(
            id=res.id,
            external_id=res.external_id,
            name=res.name,
            category=res.category,
            category_label=CATEGORY_BY_KEY[res.category].label(lang),
            district=res.district,
            town=res.town,
            address=res.address,
            lon=round(float(lon), 7),
            lat=round(float(lat), 7),
            crs=crs,
            skills=[Skill(name=s.name, code=s.code) for s in res.skills],
            phone=res.phone,
            opening_hours=res.opening_hours,
            registration=Registration(steps=res.reg_steps or [], url=res.reg_url, phone=res.reg_phone),
            subsidy=Subsidy(eligible=res.subsidy_eligible, note=res.subsidy_note),
            seats=res.seats,
            source=res.source,
            is_sample=res.is_sample,
            updated_at=res.updated_at,
        )


class ClassOut(BaseModel):
    """A training class (培训班)."""

    id: int
    external_id: str
    resource_id: int
    resource_name: str | None = None
    skill: str
    skill_code: str | None = None
    level: int
    level_label: str
    start_date: date
    end_date: date
    schedule: str
    schedule_label: str
    seats_total: int
    seats_left: int
    fee: float | None = None
    subsidy: float | None = None
    signup_deadline: date | None = None
    is_sample: bool
    updated_at: Timestamp | None = None

    @classmethod
    def of(cls, c: TrainingClass, *, lang: str = "zh") -> ClassOut:
        """Build from a model row."""
        lv = LEVEL_BY_NUMBER[c.level]
        zh, en = SCHEDULES[c.schedule]
        return cls(
            id=c.id,
            external_id=c.external_id,
            resource_id=c.resource_id,
            resource_name=c.resource.name if c.resource else None,
            skill=c.skill,
            skill_code=c.skill_code,
            level=c.level,
            level_label=lv.label_en if lang == "en" else lv.label_zh,
            start_date=c.start_date,
            end_date=c.end_date,
            schedule=c.schedule,
            schedule_label=en if lang == "en" else zh,
            seats_total=c.seats_total,
            seats_left=c.seats_left,
            fee=c.fee,
            subsidy=c.subsidy,
            signup_deadline=c.signup_deadline,
            is_sample=c.is_sample,
            updated_at=c.updated_at,
        )


class EvaluationOut(BaseModel):
    """A skill-level evaluation session (技能等级认定)."""

    id: int
    external_id: str
    resource_id: int
    resource_name: str | None = None
    skill: str
    skill_code: str | None = None
    level: int
    level_label: str
    date: date
    seats_left: int
    fee: float | None = None
    is_sample: bool
    updated_at: Timestamp | None = None
    signup_open: bool = Field(
        default=False, description="online sign-up (/signup/e/{id}) still open: not cancelled, before the day"
    )

    @classmethod
    def of(cls, e: Evaluation, *, lang: str = "zh") -> EvaluationOut:
        """Build from a model row."""
        lv = LEVEL_BY_NUMBER[e.level]
        return cls(
            id=e.id,
            external_id=e.external_id,
            resource_id=e.resource_id,
            resource_name=e.resource.name if e.resource else None,
            skill=e.skill,
            skill_code=e.skill_code,
            level=e.level,
            level_label=lv.label_en if lang == "en" else lv.label_zh,
            date=e.date,
            seats_left=e.seats_left,
            fee=e.fee,
            is_sample=e.is_sample,
            updated_at=e.updated_at,
            signup_open=class_problem(e, today=city_today(e.city)) is None,
        )


class Page(BaseModel):
    """A page of results with the sample notice when any shown record is sample data."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    city: str
    total: int
    page: int
    page_size: int
    sample: bool
    notice: dict[str, str] | None = None
    items: list[Any]


class ResourcePage(Page):
    """A page of resources."""

    items: list[ResourceOut]


class ClassPage(Page):
    """A page of classes."""

    items: list[ClassOut]


class EvaluationPage(Page):
    """A page of evaluations."""

    items: list[EvaluationOut]


class ResourceDetail(ResourceOut):
    """A resource with its next classes and evaluations."""

    next_classes: list[ClassOut] = []
    next_evaluations: list[EvaluationOut] = []
    notice: dict[str, str] | None = None


class ResourceBrief(BaseModel):
    """The short record of a resource in a ``view=compact`` answer: enough to list and map it; the full
    record is at ``/api/v1/resources/{id}``."""

    id: int
    name: str
    category: str
    category_label: str
    district: str | None = None
    town: str | None = None
    lon: float
    lat: float
    crs: Crs = "wgs84"
    is_sample: bool

    @classmethod
    def of(cls, full: ResourceOut) -> ResourceBrief:
        """The brief form of a full record."""
        return cls(**full.model_dump(include=set(cls.model_fields)))


class NearbyItem(BaseModel):
    """A resource reachable within the time limit (its full record, or its brief one with ``view=compact``)."""

    minutes: float
    distance_m: float
    estimate: bool
    resource: ResourceOut | ResourceBrief


class NearbyResponse(BaseModel):
    """Resources reachable from a point, nearest first."""

    city: str
    mode: Mode
    minutes: int
    origin: dict[str, Any]
    estimate: bool
    sample: bool
    notice: dict[str, Any] = {}
    count: int
    items: list[NearbyItem]


class SkillIn(BaseModel):
    """A skill of a resource being written (text that renders; see :mod:`geo.text_input`)."""

    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=100)
    code: Line | None = Field(default=None, max_length=40)


class RegistrationIn(BaseModel):
    """How to sign up, as written through the admin API."""

    model_config = ConfigDict(extra="forbid")

    steps: list[Annotated[Line, Field(max_length=300)]] = Field(default_factory=list, max_length=50)
    url: Line | None = Field(default=None, max_length=500)
    phone: Line | None = Field(default=None, max_length=60)


class SubsidyIn(BaseModel):
    """Subsidy eligibility, as written through the admin API."""

    model_config = ConfigDict(extra="forbid")

    eligible: bool = False
    note: MultiLine | None = Field(default=None, max_length=2000)


class ResourceIn(BaseModel):
    """A resource to create or replace through the admin API (WGS84 unless ``crs`` says otherwise).

    Every text field must render: control, private-use and unassigned characters get a 422
    ``invalid_text`` (:mod:`geo.text_input`); ``address``, ``opening_hours`` and the subsidy note may
    hold newlines.
    """

    model_config = ConfigDict(extra="forbid")

    external_id: Line = Field(min_length=1, max_length=120)
    name: Line = Field(min_length=1, max_length=300)
    category: Line = Field(max_length=40)
    district: Line | None = Field(default=None, max_length=60)
    town: Line | None = Field(default=None, max_length=60)
    address: MultiLine | None = Field(default=None, max_length=300)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Crs = "wgs84"
    skills: list[SkillIn] = Field(default_factory=list, max_length=200)
    phone: Line | None = Field(default=None, max_length=60)
    opening_hours: MultiLine | None = Field(default=None, max_length=200)
    registration: RegistrationIn = RegistrationIn()
    subsidy: SubsidyIn = SubsidyIn()
    seats: Count | None = None
    source: Line | None = Field(default=None, max_length=300)
    is_sample: bool = False


class ClassIn(BaseModel):
    """A class to create or replace through the admin API."""

    model_config = ConfigDict(extra="forbid")

    external_id: Line = Field(min_length=1, max_length=120)
    resource_id: DbId
    skill: Line = Field(min_length=1, max_length=100)
    skill_code: Line | None = Field(default=None, max_length=40)
    level: int = Field(ge=1, le=5)
    start_date: date
    end_date: date
    schedule: Literal["weekday", "evening", "weekend"]
    seats_total: Count
    seats_left: Count
    fee: Money | None = None
    subsidy: Money | None = None
    signup_deadline: date | None = None
    is_sample: bool = False


class EvaluationIn(BaseModel):
    """An evaluation session to create or replace through the admin API."""

    model_config = ConfigDict(extra="forbid")

    external_id: Line = Field(min_length=1, max_length=120)
    resource_id: DbId
    skill: Line = Field(min_length=1, max_length=100)
    skill_code: Line | None = Field(default=None, max_length=40)
    level: int = Field(ge=1, le=5)
    date: date
    seats_left: Count
    fee: Money | None = None
    is_sample: bool = False


class JobProgress(BaseModel):
    """How far a job is: its phase (queued, reading, checking, writing, saving, done, failed) and rows."""

    phase: str
    done: int
    total: int | None = None
    percent: float


class JobOut(BaseModel):
    """A background job (a sheet import): status, progress, and its report or error once it has ended.

    ``error`` of a rejected sheet is the same body as a synchronous 422 ``import_invalid``: its
    ``details.errors`` list the bad cells by row (header = row 1) and column.
    """

    id: str
    kind: str
    city: str
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: JobProgress
    filename: str | None = None
    created_at: str | None = Field(None, description="ISO 8601 with offset")
    started_at: str | None = Field(None, description="ISO 8601 with offset")
    finished_at: str | None = Field(None, description="ISO 8601 with offset")
    heartbeat_at: str | None = Field(
        None,
        description="when the job's process (while queued: the server holding it) last reported; a queued or "
        "running job silent for SKILLCIRCLE_JOB_INTERRUPTED_AFTER_S ends failed with job_interrupted",
    )
    result: dict[str, Any] | None = Field(None, description="the import report: kind, rows, created, updated")
    error: ErrorBody | None = None


class JobAccepted(BaseModel):
    """The answer to an upload: the job that will import it (poll ``status_url``)."""

    job_id: str
    status: str
    status_url: str
