"""What a worker sees after scanning a 技能码: one answer, rendered as the HTML page ``/s/{code}`` and
returned as JSON by ``/api/v1/skill-codes/{code}``.

The answer ranks the city's resources by travel time (the routing engine; straight-line estimates where a
city has no road network, flagged so) from the phone's location when the worker shares it, else from the
code's own place (where the poster hangs; the resource for a resource code; the city centre for a city
or skill code without a point). ``origin`` says which, in words the page shows as they are (a city-centre
origin comes with ``prompt_location``: the page asks for the phone's location). It lists upcoming classes
and evaluations with seats left at the reachable places in date order, each with its venue (travel time
from the same origin), the venue's sign-up steps and "navigate" links for Amap, Baidu and Tencent maps
with the coordinates each expects (Amap and Tencent GCJ-02, Baidu BD-09; stored points are WGS84).
Labels are Chinese or English (``lang``); names, addresses and steps are the institutions' own text.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from typing import Any, Literal
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.qrcodes import code_url
from api.schemas import ESTIMATE_NOTICE, SAMPLE_NOTICE, ClassOut, EvaluationOut, ResourceOut
from api.skillcode_schemas import (
    CIRCLE_MINUTES,
    SEARCH_MINUTES,
    ClassItem,
    EvaluationItem,
    ModeOption,
    NavLinks,
    NearbyPlace,
    Origin,
    Signup,
    SkillCodeAnswer,
    TargetOut,
)
from api.skillcode_text import short_date, texts, weekday
from api.state import CityRuntime
from geo.clock import city_today, open_class, open_evaluation
from geo.coords import from_wgs84
from geo.errors import SkillCircleError
from geo.models import Evaluation, Resource, SkillCode, TrainingClass
from geo.skillcodes import code_health, format_code

log = logging.getLogger(__name__)

#: Mode switch order on the page: e-bike first (the commonest way workers get around in Jiaxing).
MODES: tuple[str, ...] = ("ebike", "walk", "bicycle", "car")
NEAREST_LIMIT = 6
CLASS_LIMIT = 8
EVALUATION_LIMIT = 6
APP_NAME = "skillcircle"
_TEL_RE = re.compile(r"\+?\d[\d\- ]{4,}\d")
_TENCENT_UNSAFE = re.compile(r"[;:,&=?#]")


def navigate_links(lon: float, lat: float, name: str) -> NavLinks:
    """Amap, Baidu and Tencent map links that drop a named marker at the WGS84 point (lon, lat).

    Uses each vendor's documented web URI API: Amap ``uri.amap.com/marker?position=lon,lat`` (GCJ-02),
    Baidu ``api.map.baidu.com/marker?location=lat,lng&coord_type=bd09ll`` (BD-09) and Tencent
    ``apis.map.qq.com/uri/v1/marker?marker=coord:lat,lng;title:…`` (GCJ-02). Outside mainland China
    GCJ-02 equals WGS84 (see :mod:`geo.coords`).
    """
    glon, glat = from_wgs84(lon, lat, crs="gcj02")
    blon, blat = from_wgs84(lon, lat, crs="bd09")
    title = quote(name, safe="")
    tencent_title = quote(_TENCENT_UNSAFE.sub(" ", name), safe="")
    return NavLinks(
        amap=(
            f"https://uri.amap.com/marker?position={glon:.6f},{glat:.6f}&name={title}"
            f"&src={APP_NAME}&coordinate=gaode&callnative=1"
        ),
        baidu=(
            f"https://api.map.baidu.com/marker?location={blat:.6f},{blon:.6f}&title={title}&content={title}"
            f"&output=html&coord_type=bd09ll&src=webapp.{APP_NAME}.skillcode"
        ),
        tencent=(
            f"https://apis.map.qq.com/uri/v1/marker?marker=coord:{glat:.6f},{glon:.6f};title:{tencent_title}"
            f"&referer={APP_NAME}"
        ),
    )


def tel_number(text: str | None) -> str | None:
    """The diallable part of a phone field (``0573-0000 1234（示例号码）`` → ``0573-00001234``), or None."""
    if not text:
        return None
    m = _TEL_RE.search(text)
    return m.group(0).replace(" ", "") if m else None


def _place(hit_minutes: float | None, hit_m: float | None, estimate: bool, res: Resource, *, lang: str) -> NearbyPlace:
    return NearbyPlace(
        minutes=None if hit_minutes is None else round(hit_minutes, 1),
        distance_m=None if hit_m is None else round(hit_m),
        estimate=estimate,
        within_circle=hit_minutes is not None and hit_minutes <= CIRCLE_MINUTES,
        resource=ResourceOut.of(res, lang=lang),
        tel=tel_number(res.reg_phone or res.phone),
        navigate=navigate_links(res.lon, res.lat, res.name),
    )


def _origin(row: SkillCode, runtime: CityRuntime, phone: tuple[float, float] | None, *, lang: str) -> Origin:
    city = runtime.city
    t = texts(lang)
    if phone is not None:
        label = t["origin_label_phone"]
        return Origin(source="phone", label=label, statement=t["origin_phone"], lon=phone[0], lat=phone[1])
    if row.lon is not None and row.lat is not None:
        source: Literal["resource", "code"] = (
            "resource" if row.target_type == "resource" and row.resource is not None else "code"
        )
        label = row.place_name or row.title
        statement = t[f"origin_{source}"].format(label=label)
        return Origin(source=source, label=label, statement=statement, lon=row.lon, lat=row.lat)
    name = city.name(lang)
    label = t["origin_label_city_centre"].format(city=name if lang == "en" else name.removesuffix("市"))
    return Origin(
        source="city_centre",
        label=label,
        statement=t["origin_city_centre"].format(label=label),
        prompt_location=True,
        lon=city.center[1],
        lat=city.center[0],
    )


def _target(session: Session, row: SkillCode, city_name: str, *, lang: str) -> TargetOut:
    health = code_health(session, row)
    if row.target_type == "skill":
        name = row.skill or ""
    elif row.target_type == "city":
        name = city_name
    elif row.target_type == "resource" and row.resource is not None:
        name = row.resource.name
    else:
        name = row.place_name or row.title
    return TargetOut(
        type=row.target_type,
        type_label=texts(lang).get(f"target_{row.target_type}", row.target_type),
        name=name,
        district=row.district,
        town=row.town,
        skill=row.skill,
        resource_id=row.resource_id,
        broken=health.broken,
        broken_reason=health.reason,
        message_zh=health.message_zh,
        message_en=health.message_en,
    )


def _class_item(c: TrainingClass, venue: NearbyPlace, *, lang: str) -> ClassItem:
    t = texts(lang)
    base = ClassOut.of(c, lang=lang).model_dump()
    marks = []
    if c.schedule == "evening":
        marks.append(t["evening_class"])
    if c.schedule == "weekend":
        marks.append(t["weekend_class"])
    net = None if c.fee is None else max(0.0, c.fee - (c.subsidy or 0.0))
    return ClassItem(
        **base,
        minutes=venue.minutes,
        marks=marks,
        net_fee=net,
        start_label=short_date(c.start_date, lang),
        end_label=short_date(c.end_date, lang),
        deadline_label=short_date(c.signup_deadline, lang) if c.signup_deadline else None,
        venue=venue,
        signup=_signup(c.resource),
    )


def _evaluation_item(e: Evaluation, venue: NearbyPlace, *, lang: str) -> EvaluationItem:
    base = EvaluationOut.of(e, lang=lang).model_dump()
    return EvaluationItem(
        **base,
        minutes=venue.minutes,
        weekend=e.date.weekday() >= 5,
        weekday_label=weekday(e.date, lang),
        date_label=short_date(e.date, lang),
        venue=venue,
    )


def _signup(res: Resource) -> Signup:
    return Signup(
        resource_id=res.id,
        resource_name=res.name,
        steps=list(res.reg_steps or []),
        phone=res.reg_phone or res.phone,
        tel=tel_number(res.reg_phone or res.phone),
        url=res.reg_url,
        address=res.address,
        is_sample=res.is_sample,
    )


def _code_skill(row: SkillCode) -> str | None:
    """The skill a skill code narrows everything to (None for other codes)."""
    return row.skill if row.target_type == "skill" and row.skill else None


def _target_resource_id(row: SkillCode) -> int | None:
    """The resource a resource code points to (None for other codes, or when it was deleted)."""
    return row.resource_id if row.target_type == "resource" else None


def _travel_times(
    engine: Any, index: Any, row: SkillCode, origin: Origin, *, mode: str, from_phone: bool
) -> tuple[list[Any], dict[str, str] | None]:
    """Resources reachable from ``origin`` within the search time, nearest first, and the error shown
    instead when the code's own place has no travel times (raised when the origin is the phone's)."""
    skill = _code_skill(row)
    mask = index.mask(skill=skill) if skill else None
    try:
        return engine.nearby(origin.lon, origin.lat, mode=mode, minutes=SEARCH_MINUTES, mask=mask), None
    except SkillCircleError as exc:  # e.g. the poster's point is off the road network
        if from_phone:  # the caller falls back to the code's own place
            raise
        log.warning("skill code %s: no travel times from %s: %s", row.code, origin, exc)
        return [], {"code": exc.code, "message_zh": exc.message_zh, "message_en": exc.message_en}


def _resources(session: Session, ids: set[int]) -> dict[int, Resource]:
    """The resources ``ids`` by id (one query; none for no ids)."""
    if not ids:
        return {}
    return {r.id: r for r in session.scalars(select(Resource).where(Resource.id.in_(ids)))}


class _Venues:
    """Places with the travel time to them from the answer's origin (the engine's estimate flag when the
    place was not reached within the search time)."""

    def __init__(self, engine: Any, hits: list[Any], rows: dict[int, Resource], *, lang: str) -> None:
        self._engine = engine
        self._times = {h.resource_id: h for h in hits}
        self._rows = rows
        self._lang = lang

    def place(self, rid: int, res: Resource | None = None) -> NearbyPlace:
        """Resource ``rid`` (``res``, else as loaded) as a :class:`NearbyPlace`."""
        h = self._times.get(rid)
        est = self._engine.estimate if h is None else h.estimate
        res = res if res is not None else self._rows[rid]
        minutes = None if h is None else h.seconds / 60.0
        return _place(minutes, None if h is None else h.distance_m, est, res, lang=self._lang)

    def rank(self, when: date, rid: int, item_id: int) -> tuple:
        """Date order: the soonest first, the nearer venue first on the same day."""
        h = self._times.get(rid)
        return (when, h.seconds if h is not None else 1e12, rid, item_id)


def _open_at(session: Session, model: Any, is_open: Any, places: list[Any], skill: str | None) -> list[Any]:
    """Open classes or evaluations (``model``) at ``places``, of ``skill`` when given, with their venues."""
    stmt = select(model).options(selectinload(model.resource)).where(model.resource_id.in_(places), is_open)
    if skill:
        stmt = stmt.where(model.skill == skill)
    return list(session.scalars(stmt))


def _open_classes(
    session: Session, row: SkillCode, places: list[Any], *, today: date, venues: _Venues
) -> list[TrainingClass]:
    """The first :data:`CLASS_LIMIT` classes open for sign-up at ``places``, in date order."""
    found = _open_at(session, TrainingClass, open_class(today), places, _code_skill(row))
    return sorted(found, key=lambda c: venues.rank(c.start_date, c.resource_id, c.id))[:CLASS_LIMIT]


def _open_evaluations(
    session: Session, row: SkillCode, places: list[Any], *, today: date, venues: _Venues
) -> list[Evaluation]:
    """The first :data:`EVALUATION_LIMIT` evaluations open at ``places``, in date order."""
    found = _open_at(session, Evaluation, open_evaluation(today), places, _code_skill(row))
    return sorted(found, key=lambda e: venues.rank(e.date, e.resource_id, e.id))[:EVALUATION_LIMIT]


def _signup_choice(
    target_id: int | None, rows: dict[int, Resource], classes: list[TrainingClass], nearest: list[NearbyPlace]
) -> Signup | None:
    """Where to sign up: the target resource, else the first class's venue, else the nearest place."""
    if target_id is not None and target_id in rows:
        return _signup(rows[target_id])
    if classes:
        return _signup(classes[0].resource)
    if nearest:
        return _signup(rows[nearest[0].resource.id])
    return None


def _shows_sample(
    nearest: list[NearbyPlace],
    target_resource: NearbyPlace | None,
    classes: list[TrainingClass],
    evaluations: list[Evaluation],
) -> bool:
    """Whether anything the answer lists is a labelled sample."""
    return (
        any(p.resource.is_sample for p in nearest)
        or (target_resource is not None and target_resource.resource.is_sample)
        or any(c.is_sample for c in classes)
        or any(e.is_sample for e in evaluations)
    )


def _notice(*, sample: bool, estimate: bool) -> dict[str, dict[str, str]]:
    """The sample and estimate notices that apply."""
    notice: dict[str, dict[str, str]] = {}
    if sample:
        notice["sample"] = SAMPLE_NOTICE
    if estimate:
        notice["estimate"] = ESTIMATE_NOTICE
    return notice


def _mode_options(mode: str, *, lang: str) -> list[ModeOption]:
    """The mode switch's buttons, ``mode`` selected."""
    t = texts(lang)
    return [ModeOption(key=k, label=t[f"mode_{k}"], selected=k == mode) for k in MODES]


def build_answer(
    session: Session,
    runtime: CityRuntime,
    row: SkillCode,
    *,
    mode: str = "ebike",
    phone: tuple[float, float] | None = None,
    today: date | None = None,
    lang: str = "zh",
) -> SkillCodeAnswer:
    """Build the answer to a scan of ``row``.

    The steps: where times are counted from (:func:`_origin`), what the code points to (:func:`_target`),
    the travel times from there (:func:`_travel_times`), the nearest places and the target resource
    (:class:`_Venues`), the open classes and evaluations (:func:`_open_classes`,
    :func:`_open_evaluations`), where to sign up (:func:`_signup_choice`) and the flags and notices.

    Parameters
    ----------
    session
        Open database session.
    runtime
        The runtime (engine and resource index) of the code's city.
    row
        An enabled code.
    mode
        ``ebike``, ``walk``, ``bicycle`` or ``car``.
    phone
        The worker's WGS84 (lon, lat) when shared, already checked to lie in the city; else the code's place.
        An engine error for the phone's point (e.g. ``off_network``) is raised, so the page falls back to
        the code's place; for the code's own place it is reported in ``nearest_error`` instead.
    today
        "Now" for open classes and evaluations (default: today in the city's time zone).
    lang
        ``zh`` or ``en``: the language of labels and of the origin statement.

    Returns
    -------
    SkillCodeAnswer
        Travel times are real network times where the city has a road network, else straight-line
        estimates (``estimate`` true and the estimate notice set).
    """
    city = runtime.city
    today = today or city_today(city)
    origin = _origin(row, runtime, phone, lang=lang)
    target = _target(session, row, city.name(lang), lang=lang)
    engine = runtime.engine
    index = runtime.index
    hits, nearest_error = _travel_times(engine, index, row, origin, mode=mode, from_phone=phone is not None)
    target_id = _target_resource_id(row)
    listed = [h for h in hits if h.resource_id != target_id][:NEAREST_LIMIT]
    rows = _resources(session, {h.resource_id for h in listed} | ({target_id} if target_id else set()))
    venues = _Venues(engine, hits, rows, lang=lang)
    nearest = [venues.place(h.resource_id) for h in listed if h.resource_id in rows]
    target_resource = venues.place(target_id) if target_id in rows else None
    # classes and evaluations: the target resource's own, else those at places reachable in the search time
    places = [target_id] if target_id is not None else [h.resource_id for h in hits]
    classes = _open_classes(session, row, places, today=today, venues=venues)
    evaluations = _open_evaluations(session, row, places, today=today, venues=venues)
    sample = bool(_shows_sample(nearest, target_resource, classes, evaluations) or index.any_sample)
    estimate = bool(engine.estimate or any(h.estimate for h in hits))
    return SkillCodeAnswer(
        code=row.code,
        printed=format_code(row.code),
        url=code_url(row.code),
        lang=lang,
        city=city.key,
        city_name=city.name(lang),
        title=row.title,
        target=target,
        origin=origin,
        mode=mode,
        mode_label=texts(lang)[f"mode_{mode}"],
        modes=_mode_options(mode, lang=lang),
        estimate=estimate,
        sample=sample,
        notice=_notice(sample=sample, estimate=estimate),
        target_resource=target_resource,
        nearest=nearest,
        nearest_error=nearest_error,
        classes=[_class_item(c, venues.place(c.resource_id, c.resource), lang=lang) for c in classes],
        evaluations=[_evaluation_item(e, venues.place(e.resource_id, e.resource), lang=lang) for e in evaluations],
        signup=_signup_choice(target_id, rows, classes, nearest),
    )


def answer_json(answer: SkillCodeAnswer) -> dict[str, Any]:
    """The JSON body of an answer (dates as ISO strings)."""
    return answer.model_dump(mode="json")
