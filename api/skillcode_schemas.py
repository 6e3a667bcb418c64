"""The response schemas of a 技能码 scan (``/s/{code}`` and ``/api/v1/skill-codes/{code}``).

Kept apart from :mod:`api.skillcode_answer`, which builds them, as :mod:`api.schemas` is kept apart from
the database models: the JSON a client gets is defined here, field by field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from api.schemas import ClassOut, EvaluationOut, ResourceOut

#: The worker's circle (minutes) and how far the nearest list searches.
CIRCLE_MINUTES = 30
SEARCH_MINUTES = 60


class NavLinks(BaseModel):
    """Map-app links to a place, each with the coordinates that app expects."""

    amap: str
    baidu: str
    tencent: str


class NearbyPlace(BaseModel):
    """A resource with the travel time to it."""

    minutes: float | None
    distance_m: float | None
    estimate: bool
    within_circle: bool
    resource: ResourceOut
    tel: str | None = None
    navigate: NavLinks


class Signup(BaseModel):
    """How to sign up at one place."""

    resource_id: int
    resource_name: str
    steps: list[str] = []
    phone: str | None = None
    tel: str | None = None
    url: str | None = None
    address: str | None = None
    is_sample: bool = False


class ClassItem(ClassOut):
    """An upcoming class: travel time to its venue, evening/weekend marks, the venue and how to sign up there."""

    minutes: float | None = None
    marks: list[str] = []
    net_fee: float | None = None
    start_label: str = ""
    end_label: str = ""
    deadline_label: str | None = None
    venue: NearbyPlace
    signup: Signup


class EvaluationItem(EvaluationOut):
    """An upcoming evaluation session with the travel time to its venue."""

    minutes: float | None = None
    weekend: bool = False
    weekday_label: str = ""
    date_label: str = ""
    venue: NearbyPlace


class Origin(BaseModel):
    """Where travel times are counted from (WGS84), and the sentence that says so on the page.

    ``source``: ``phone`` (the worker's shared location), ``code`` (where the poster hangs), ``resource``
    (the institution a resource code points to) or ``city_centre`` (a city or skill code without a place:
    far from most workers, so ``prompt_location`` asks the page to offer "use my location").
    """

    source: Literal["phone", "code", "resource", "city_centre"]
    label: str
    statement: str
    prompt_location: bool = False
    lat: float
    lon: float


class TargetOut(BaseModel):
    """What the code points to, and whether that still exists."""

    type: str
    type_label: str
    name: str
    district: str | None = None
    town: str | None = None
    skill: str | None = None
    resource_id: int | None = None
    broken: bool = False
    broken_reason: str | None = None
    message_zh: str | None = None
    message_en: str | None = None


class ModeOption(BaseModel):
    """One button of the mode switch."""

    key: str
    label: str
    selected: bool


class SkillCodeAnswer(BaseModel):
    """The answer to a scan (see the module docstring)."""

    code: str
    printed: str
    url: str
    lang: str = "zh"
    city: str
    city_name: str
    title: str
    target: TargetOut
    origin: Origin
    mode: str
    mode_label: str
    modes: list[ModeOption]
    circle_minutes: int = CIRCLE_MINUTES
    search_minutes: int = SEARCH_MINUTES
    estimate: bool
    sample: bool
    notice: dict[str, dict[str, str]] = {}
    target_resource: NearbyPlace | None = None
    nearest: list[NearbyPlace] = []
    nearest_error: dict[str, str] | None = None
    classes: list[ClassItem] = []
    evaluations: list[EvaluationItem] = []
    signup: Signup | None = None
