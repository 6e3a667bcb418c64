"""SQLAlchemy 2 models of the registry: resources, their skills, classes, evaluations, skill codes,
scan counts, API tokens, the audit log, console accounts and sessions, sign-ups and the review queue.

Every row belongs to one city (``city`` = the city pack key). Rows imported from a sheet keep the
sheet's ``external_id``; re-importing the same sheet updates them by that id. The schema is created
and upgraded only by the Alembic migrations in ``geo/migrations`` so that an upgrade never loses data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Timezone-aware now, the default of every timestamp column."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every SkillCircle table."""


class Resource(Base):
    """A place where a worker can train or get a skill certified."""

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("city", "external_id", name="uq_resources_city_external_id"),
        Index("ix_resources_city_category", "city", "category"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city: Mapped[str] = mapped_column(String(40), index=True)
    external_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(20))
    district: Mapped[str | None] = mapped_column(String(60))
    town: Mapped[str | None] = mapped_column(String(60))
    address: Mapped[str | None] = mapped_column(String(300))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(60))
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    reg_steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    reg_url: Mapped[str | None] = mapped_column(String(500))
    reg_phone: Mapped[str | None] = mapped_column(String(60))
    subsidy_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    subsidy_note: Mapped[str | None] = mapped_column(Text)
    seats: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(300))
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    skills: Mapped[list[ResourceSkill]] = relationship(
        back_populates="resource", cascade="all, delete-orphan", order_by="ResourceSkill.id", lazy="selectin"
    )
    classes: Mapped[list[TrainingClass]] = relationship(back_populates="resource", cascade="all, delete-orphan")
    evaluations: Mapped[list[Evaluation]] = relationship(back_populates="resource", cascade="all, delete-orphan")


class ResourceSkill(Base):
    """A skill (工种) a resource offers, with its national occupation code where known."""

    __tablename__ = "resource_skills"
    __table_args__ = (Index("ix_resource_skills_name", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str | None] = mapped_column(String(40))

    resource: Mapped[Resource] = relationship(back_populates="skills")


class TrainingClass(Base):
    """A training class (培训班) held by a resource."""

    __tablename__ = "classes"
    __table_args__ = (
        UniqueConstraint("city", "external_id", name="uq_classes_city_external_id"),
        Index("ix_classes_city_start", "city", "start_date"),
        CheckConstraint("seats_left >= 0", name="ck_classes_seats_left_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city: Mapped[str] = mapped_column(String(40), index=True)
    external_id: Mapped[str] = mapped_column(String(120))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    skill: Mapped[str] = mapped_column(String(100), index=True)
    skill_code: Mapped[str | None] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    schedule: Mapped[str] = mapped_column(String(20))
    seats_total: Mapped[int] = mapped_column(Integer)
    seats_left: Mapped[int] = mapped_column(Integer)
    fee: Mapped[float | None] = mapped_column(Float)
    subsidy: Mapped[float | None] = mapped_column(Float)
    signup_deadline: Mapped[date | None] = mapped_column(Date)
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    resource: Mapped[Resource] = relationship(back_populates="classes")


class Evaluation(Base):
    """A skill-level evaluation session (技能等级认定) held by an agency."""

    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("city", "external_id", name="uq_evaluations_city_external_id"),
        Index("ix_evaluations_city_date", "city", "date"),
        CheckConstraint("seats_left >= 0", name="ck_evaluations_seats_left_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city: Mapped[str] = mapped_column(String(40), index=True)
    external_id: Mapped[str] = mapped_column(String(120))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    skill: Mapped[str] = mapped_column(String(100), index=True)
    skill_code: Mapped[str | None] = mapped_column(String(40))
    level: Mapped[int] = mapped_column(Integer)
    date: Mapped[date] = mapped_column(Date)
    seats_left: Mapped[int] = mapped_column(Integer)
    fee: Mapped[float | None] = mapped_column(Float)
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    resource: Mapped[Resource] = relationship(back_populates="evaluations")


class SkillCode(Base):
    """A 技能码: an opaque short id printed as a QR code, bound to one target.

    ``target_type`` is one of ``city``, ``place`` (a district/town/community with a point: "posted
    here"), ``resource`` or ``skill``. A disabled code keeps answering with a polite page.
    """

    __tablename__ = "skill_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    city: Mapped[str] = mapped_column(String(40), index=True)
    title: Mapped[str] = mapped_column(String(200))
    target_type: Mapped[str] = mapped_column(String(20))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id", ondelete="SET NULL"))
    skill: Mapped[str | None] = mapped_column(String(100))
    place_name: Mapped[str | None] = mapped_column(String(200))
    district: Mapped[str | None] = mapped_column(String(60))
    town: Mapped[str | None] = mapped_column(String(60))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    resource: Mapped[Resource | None] = relationship()


class ScanCount(Base):
    """Scans of a skill code per day and coarse location cell; no IP or device id is ever stored.

    ``cell`` is an H3 cell id (resolution 7, ~5 km²) when the worker shared a location, else "".
    """

    __tablename__ = "scan_counts"
    __table_args__ = (UniqueConstraint("code", "day", "cell", name="uq_scan_counts_code_day_cell"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(ForeignKey("skill_codes.code", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    cell: Mapped[str] = mapped_column(String(20), default="")
    count: Mapped[int] = mapped_column(Integer, default=0)


class ApiToken(Base):
    """An API token for the write side; only its SHA-256 hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One write through the admin API or the CLI: who, when, what changed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(20))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(120))
    changes: Mapped[dict] = mapped_column(JSON, default=dict)


class Account(Base):
    """A console account: a bureau admin (everything in its city), an institution editor (only its linked
    resources) or a reviewer (reads and decides the review queue). Passwords are argon2 hashes."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(30))
    city: Mapped[str] = mapped_column(String(40), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    resources: Mapped[list[Resource]] = relationship(secondary="account_resources", order_by="Resource.id")


class AccountResource(Base):
    """Which resources (institutions) an institution editor may edit."""

    __tablename__ = "account_resources"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)


class ConsoleSession(Base):
    """A logged-in console session; the cookie holds a random token, only its SHA-256 hash is stored."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    account: Mapped[Account] = relationship()


class Signup(Base):
    """A worker's online sign-up (报名) for a class or an evaluation session: confirmed (holds a seat),
    waitlisted or cancelled. Exactly one of ``class_id`` and ``evaluation_id`` is set.

    The mobile number is stored only encrypted (``mobile_enc``, Fernet) plus a keyed hash
    (``mobile_hash``) for the per-number limit; ``active_key`` equals the hash while the sign-up is
    active, so one number holds at most one active sign-up per class or session (NULLs never collide).
    Cancelled rows keep no personal data. Rows are deleted ``signup_retention_days`` after the class
    ends or the evaluation is held.
    """

    __tablename__ = "signups"
    __table_args__ = (
        UniqueConstraint("class_id", "submission_key", name="uq_signups_class_submission"),
        UniqueConstraint("class_id", "active_key", name="uq_signups_class_active"),
        UniqueConstraint("evaluation_id", "submission_key", name="uq_signups_evaluation_submission"),
        UniqueConstraint("evaluation_id", "active_key", name="uq_signups_evaluation_active"),
        Index("ix_signups_class_status", "class_id", "status"),
        Index("ix_signups_evaluation_status", "evaluation_id", "status"),
        CheckConstraint("(class_id IS NULL) <> (evaluation_id IS NULL)", name="ck_signups_one_offer"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city: Mapped[str] = mapped_column(String(40), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"))
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    submission_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60), default="")
    mobile_enc: Mapped[str] = mapped_column(Text, default="")
    mobile_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    active_key: Mapped[str | None] = mapped_column(String(64))
    ip_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    note: Mapped[str | None] = mapped_column(String(300))
    consent_version: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    training_class: Mapped[TrainingClass | None] = relationship()
    evaluation: Mapped[Evaluation | None] = relationship()


class ReviewItem(Base):
    """A change held for a bureau admin: a new institution, or an edit of a name, location or category."""

    __tablename__ = "review_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    proposed: Mapped[dict] = mapped_column(JSON, default=dict)
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RegistryVersion(Base):
    """A city's registry version: bumped in the same transaction as every write to its resources,
    skills, classes, evaluations or skill codes (see :mod:`geo.versions`), so every worker process
    sees a change by one cheap read, whatever wrote it (API, CLI, import, job) and whatever
    ``updated_at`` the written rows carry."""

    __tablename__ = "registry_versions"

    city: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """A background job (a sheet import): its state lives here so every worker can report it."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    city: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    phase: Mapped[str] = mapped_column(String(40), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # who answers for a queued or running job, and when it last said so (see geo/jobs.py: a job whose
    # heartbeat is older than ``job_interrupted_after_s`` is reported failed, ``job_interrupted``)
    runner: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
