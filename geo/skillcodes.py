"""The 技能码 registry: short opaque codes printed as QR codes, each bound to one target.

A code is 8 characters of Crockford base32 (``0-9 A-Z`` without ``I L O U``) drawn from
:mod:`secrets`: 40 random bits, no sequence, so a code cannot be guessed from another one. Lookups
are forgiving the way Crockford base32 intends (lower case, ``I``/``L`` read as ``1``, ``O`` as ``0``,
hyphens and spaces ignored) because people also type the code printed under the QR image.

Targets (``SkillCode.target_type``):

``city``
    The whole city; the page ranks resources from the code's point if one was given, else the city centre.
``place``
    A district, town (乡镇/街道) or community with a point: the poster is "posted here".
``resource``
    One training or evaluation place. The code keeps the resource's point, so if the resource is deleted
    (the foreign key is ``ON DELETE SET NULL``) the code still answers, reports itself broken, and shows
    the nearest alternatives.
``skill``
    One skill (工种), e.g. every 电工 class and evaluation near the worker.

A target is checked against the city, and the columns it sets derived, by :mod:`geo.skillcode_targets`.

Codes are never deleted (they are printed): they are disabled, and a disabled code answers with a polite
"no longer in use" page. Every write is recorded in the audit log in the caller's transaction.

Scan analytics store no personal data: a count per code, per day and per coarse H3 cell (resolution 7,
about 5 km²) when the worker shared a location, else the empty cell ``""``. No IP address, device id,
user agent or exact position is stored.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from geo.audit import AuditedWrite, diff
from geo.cities import CityPack
from geo.db import rows_changed
from geo.errors import GoneError, InvalidParameterError, NotFoundError
from geo.models import Resource, ResourceSkill, ScanCount, SkillCode
from geo.skillcode_targets import check_target_type, skill_offered, target_fields
from geo.text_input import check_text

log = logging.getLogger(__name__)

#: Crockford's base32 alphabet: digits and capitals without I, L, O, U (no confusable characters).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
TARGET_LABELS_ZH: dict[str, str] = {"city": "全市", "place": "张贴地点", "resource": "机构", "skill": "工种"}
#: H3 resolution of scan cells: ~5.2 km² hexagons, coarse enough not to locate a person.
SCAN_RESOLUTION = 7
_TRANSLATE = str.maketrans({"I": "1", "L": "1", "O": "0"})
_CODE_RE = re.compile(f"^[{ALPHABET}]{{{CODE_LENGTH}}}$")
_MAX_TRIES = 20


@dataclass(frozen=True)
class CodeHealth:
    """Whether a code's target still exists: ``broken`` with a reason and bilingual explanation."""

    broken: bool
    reason: str | None = None
    message_zh: str | None = None
    message_en: str | None = None


@dataclass(frozen=True, kw_only=True)
class Target:
    """What a code points to, as a caller asks for it (before validation).

    One value for the API's request body, the CLI's options and the registry's writes, so the target's
    fields are listed once. :func:`create_code` and :func:`retarget_code` validate it and derive the
    stored columns (a resource's point, a town's point, a district from a point, a default title) with
    :func:`geo.skillcode_targets.target_fields`.

    Attributes
    ----------
    target_type
        ``city``, ``place``, ``resource`` or ``skill`` (see the module docstring).
    resource_id, skill
        The target of a ``resource`` / ``skill`` code.
    place_name, district, town, lon, lat, crs
        Where the code is posted. A ``place`` code needs a point, a town or a district (a town's point,
        or a point inside the district, is used when no point is given); ``city`` and ``skill`` codes may
        carry a point too, from which their page ranks resources. ``lon``/``lat`` are in ``crs``.
    """

    target_type: str
    resource_id: int | None = None
    skill: str | None = None
    place_name: str | None = None
    district: str | None = None
    town: str | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"


def new_code() -> str:
    """A fresh random code (8 Crockford base32 characters from :mod:`secrets`; not checked for uniqueness)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str | None:
    """The canonical form of a typed or scanned code, or None if it cannot be a code.

    Upper-cases, drops spaces and hyphens, reads ``I``/``L`` as ``1`` and ``O`` as ``0`` (Crockford).
    """
    if not isinstance(text, str) or len(text) > 40:
        return None
    canon = re.sub(r"[\s\-]", "", text).upper().translate(_TRANSLATE)
    return canon if _CODE_RE.match(canon) else None


def format_code(code: str) -> str:
    """The code as printed for people: two groups of four (``K7M2-Q9XA``)."""
    return f"{code[:4]}-{code[4:]}" if len(code) == CODE_LENGTH else code


def _not_found(text: str) -> NotFoundError:
    msg = f"no skill code {text!r}"
    return NotFoundError(
        msg,
        message_zh=f"找不到技能码“{text}”，请核对后重试",
        code="skill_code_not_found",
        details={"code": str(text)[:40]},
    )


def get_code(session: Session, text: str) -> SkillCode:
    """The code ``text`` (any accepted spelling), enabled or not.

    Raises
    ------
    NotFoundError
        ``skill_code_not_found`` when no such code exists.
    """
    canon = normalize_code(text)
    row = session.get(SkillCode, canon) if canon else None
    if row is None:
        raise _not_found(text)
    return row


def resolve_code(session: Session, text: str) -> SkillCode:
    """The live code ``text`` for the public page and API.

    Raises
    ------
    NotFoundError
        ``skill_code_not_found`` for an unknown code.
    GoneError
        ``skill_code_disabled`` (410) for a code that was disabled on purpose.
    """
    row = get_code(session, text)
    if not row.enabled:
        msg = f"skill code {row.code} is no longer in use"
        raise GoneError(
            msg,
            message_zh=f"技能码 {format_code(row.code)} 已停用，感谢您的关注",
            code="skill_code_disabled",
            details={"code": row.code, "city": row.city},
        )
    return row


def _title(title: str | None, default: str) -> str:
    """The given title (stripped, at most 200 characters) or the derived default (cut to 200)."""
    title = check_text((title or "").strip(), field="title")
    if len(title) > 200:
        msg = "title is longer than 200 characters"
        raise InvalidParameterError(msg, message_zh="标题不能超过 200 个字符", code="invalid_parameter")
    return title or default[:200]


def _snapshot(row: SkillCode) -> dict[str, Any]:
    """A code's audited fields."""
    keys = ("city", "title", "target_type", "resource_id", "skill", "place_name", "district", "town", "lon", "lat")
    return {k: getattr(row, k) for k in keys} | {"enabled": row.enabled}


def _audited(session: Session, action: str, *, actor: str, row: SkillCode | None = None) -> AuditedWrite:
    return AuditedWrite(
        session,
        actor=actor,
        action=action,
        entity="skill_code",
        row=row,
        snapshot=_snapshot,
        entity_id=lambda code: code.code,
        skip_unchanged=action != "create",
    )


def create_code(session: Session, city: CityPack, target: Target, *, actor: str, title: str | None = None) -> SkillCode:
    """Create a code bound to one target and audit it.

    Parameters
    ----------
    session
        Open session; the caller commits (the audit entry goes with the write).
    city
        The city the code belongs to.
    target
        What the code points to and where it is posted (see :class:`Target`).
    actor
        Who creates it (token name or ``cli:<user>``), for the audit log.
    title
        Printed on the poster and shown on the page; a default is derived from the target.

    Returns
    -------
    SkillCode
        The new row (flushed), its ``code`` a fresh random id.
    """
    fields = target_fields(session, city, target)
    title = _title(title, fields.pop("default_title"))
    for _ in range(_MAX_TRIES):
        code = new_code()
        if session.get(SkillCode, code) is None:
            break
    else:  # pragma: no cover - 2**40 codes
        msg = "could not draw an unused code"
        raise InvalidParameterError(msg, message_zh="无法生成未被使用的技能码", code="code_space_exhausted")
    with _audited(session, "create", actor=actor) as write:
        row = SkillCode(code=code, city=city.key, title=title, enabled=True, **fields)
        session.add(row)
        write.row = row
    log.info("created skill code %s (%s) in %s", code, target.target_type, city.key)
    return row


def retarget_code(
    session: Session, city: CityPack, text: str, target: Target, *, actor: str, title: str | None = None
) -> SkillCode:
    """Bind an existing (printed) code to a new target; the id, and so every poster, stays the same.

    A city or skill target given no point of its own keeps the code's posting point.

    Parameters are those of :func:`create_code` (``text``: the code); the title is re-derived unless
    given. This is also how a broken code (its resource deleted) is repaired.
    """
    row = get_code(session, text)
    if row.city != city.key:
        raise _not_found(text)
    keeps_place = (
        target.target_type in ("city", "skill")
        and target.lon is None
        and target.lat is None
        and not target.district
        and not target.town
    )
    if keeps_place and row.lon is not None and row.lat is not None:
        # the poster still hangs where it did: keep ranking from there
        target = replace(target, lon=row.lon, lat=row.lat, crs="wgs84", place_name=target.place_name or row.place_name)
    with _audited(session, "retarget", actor=actor, row=row):
        fields = target_fields(session, city, target)
        title = _title(title, fields.pop("default_title"))
        for key, value in fields.items():
            setattr(row, key, value)
        row.title = title
    return row


def update_code(
    session: Session, text: str, *, actor: str, title: str | None = None, enabled: bool | None = None
) -> SkillCode:
    """Change a code's title and/or enable or disable it (audited; unchanged fields are left alone)."""
    row = get_code(session, text)
    with _audited(session, "update", actor=actor, row=row) as write:
        if title is not None:
            title = check_text(title.strip(), field="title")
            if not title or len(title) > 200:
                msg = "title must be 1–200 characters"
                raise InvalidParameterError(msg, message_zh="标题须为 1–200 个字符", code="invalid_parameter")
            row.title = title
        if enabled is not None:
            row.enabled = bool(enabled)
        if set(diff(write.before, _snapshot(row))) == {"enabled"}:
            write.action = "enable" if row.enabled else "disable"
    return row


def disable_code(session: Session, text: str, *, actor: str) -> SkillCode:
    """Retire a code: it keeps answering with a polite "no longer in use" page (HTTP 410)."""
    return update_code(session, text, actor=actor, enabled=False)


def list_codes(
    session: Session,
    *,
    city: str | None = None,
    district: str | None = None,
    target_type: str | None = None,
    enabled: bool | None = None,
) -> list[SkillCode]:
    """Codes filtered by city, district (name), target type and enabled flag, oldest first."""
    stmt = select(SkillCode)
    if city:
        stmt = stmt.where(SkillCode.city == city)
    if district:
        stmt = stmt.where(SkillCode.district == district)
    if target_type:
        stmt = stmt.where(SkillCode.target_type == check_target_type(target_type))
    if enabled is not None:
        stmt = stmt.where(SkillCode.enabled.is_(enabled))
    return list(session.scalars(stmt.order_by(SkillCode.created_at, SkillCode.code)))


def code_health(session: Session, row: SkillCode, *, offered_skills: set[str] | None = None) -> CodeHealth:
    """Whether ``row``'s target still exists.

    A resource code whose resource was deleted (``resource_id`` set NULL by the database) is broken, and
    so is a skill code whose skill no resource of the city offers any more. ``offered_skills`` (the
    city's skill names) saves a query per code when checking many.
    """
    if row.target_type == "resource" and row.resource_id is None:
        return CodeHealth(
            True,
            "resource_deleted",
            f"该码原来对应的机构“{row.place_name or row.title}”已从名录中移除",
            f"the resource this code pointed to ({row.place_name or row.title}) was deleted from the registry",
        )
    if row.target_type == "skill" and row.skill:
        offered = (
            row.skill in offered_skills if offered_skills is not None else skill_offered(session, row.city, row.skill)
        )
        if not offered:
            return CodeHealth(
                True,
                "skill_not_offered",
                f"本市目前没有机构提供“{row.skill}”工种",
                f"no resource of the city offers the skill {row.skill!r} any more",
            )
    return CodeHealth(False)


def offered_skills(session: Session, city: str) -> set[str]:
    """Names of every skill some resource of ``city`` offers."""
    rows = session.scalars(select(ResourceSkill.name).join(Resource).where(Resource.city == city).distinct())
    return set(rows)


# ---------------------------------------------------------------------------------------------- scans
def scan_cell(lon: float, lat: float) -> str:
    """The coarse H3 cell (resolution :data:`SCAN_RESOLUTION`) a WGS84 point falls in."""
    import h3

    return h3.latlng_to_cell(float(lat), float(lon), SCAN_RESOLUTION)


def _bump(session: Session, code: str, day: date, cell: str, delta: int) -> None:
    """Add ``delta`` to the (code, day, cell) counter, creating it when missing (safe under races)."""
    where = (ScanCount.code == code, ScanCount.day == day, ScanCount.cell == cell)
    done = rows_changed(session, update(ScanCount).where(*where).values(count=ScanCount.count + delta))
    if done:
        return
    if delta < 0:
        return
    try:
        with session.begin_nested():
            session.add(ScanCount(code=code, day=day, cell=cell, count=delta))
    except IntegrityError:  # another request created it in between
        session.execute(update(ScanCount).where(*where).values(count=ScanCount.count + delta))


def _code_today(session: Session, code: str) -> date:
    """Today in the time zone of the code's city (scans are counted per local day)."""
    from geo.clock import city_today

    return city_today(session.scalar(select(SkillCode.city).where(SkillCode.code == code)) or "")


def count_scan(session: Session, code: str, *, day: date | None = None) -> None:
    """Count one scan (page view) of ``code`` today, without a location (cell ``""``)."""
    _bump(session, code, day or _code_today(session, code), "", 1)


def locate_scan(session: Session, code: str, *, lon: float, lat: float, day: date | None = None) -> str:
    """Attribute one of today's scans of ``code`` to the coarse cell of a location the worker shared.

    The scan was counted without a cell when the page loaded; it is moved to the cell (so each scan is
    counted once). Only the H3 cell id is stored, never the point. Returns the cell.
    """
    day = day or _code_today(session, code)
    cell = scan_cell(lon, lat)
    where = (ScanCount.code == code, ScanCount.day == day, ScanCount.cell == "", ScanCount.count > 0)
    session.execute(update(ScanCount).where(*where).values(count=ScanCount.count - 1))
    _bump(session, code, day, cell, 1)
    return cell


def scan_counts(
    session: Session,
    *,
    city: str | None = None,
    code: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[ScanCount]:
    """Scan counters (code, day, cell, count) filtered by city, code and day range, by day then code."""
    stmt = select(ScanCount).where(ScanCount.count > 0)
    if city:
        stmt = stmt.where(ScanCount.code.in_(select(SkillCode.code).where(SkillCode.city == city)))
    if code:
        stmt = stmt.where(ScanCount.code == get_code(session, code).code)
    if since:
        stmt = stmt.where(ScanCount.day >= since)
    if until:
        stmt = stmt.where(ScanCount.day <= until)
    return list(session.scalars(stmt.order_by(ScanCount.day, ScanCount.code, ScanCount.cell)))


def scan_totals(session: Session, *, city: str) -> dict[str, int]:
    """Total scans per code of ``city`` (codes never scanned are absent)."""
    rows = session.execute(
        select(ScanCount.code, func.sum(ScanCount.count))
        .where(ScanCount.code.in_(select(SkillCode.code).where(SkillCode.city == city)))
        .group_by(ScanCount.code)
    ).all()
    return {c: int(n or 0) for c, n in rows}
