"""A 技能码's target checked against its city, and the columns of ``skill_codes`` it sets.

:class:`~geo.skillcodes.Target` is what a caller asks a code to point to; :func:`target_fields` checks
it (the target type, the point on the city's land, the district, the town, the resource, the skill)
and derives what the registry stores: a resource's point, a town's point, a point inside a district,
the district a point lies in, and a default title. The registry's writes (:mod:`geo.skillcodes`) use
it when a code is created or re-targeted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from geo.cities import CityPack
from geo.coords import to_wgs84
from geo.errors import InvalidParameterError, NotFoundError, UnknownSkillError
from geo.land import check_on_land
from geo.locations import resolve_district
from geo.models import Resource, ResourceSkill
from geo.text_input import check_text

if TYPE_CHECKING:
    from geo.skillcodes import Target

TARGET_TYPES: tuple[str, ...] = ("city", "place", "resource", "skill")


def _invalid(msg: str, zh: str, *, code: str = "invalid_skill_code_target", **details: Any) -> InvalidParameterError:
    return InvalidParameterError(msg, message_zh=zh, code=code, details=details)


def check_target_type(target_type: str) -> str:
    """``target_type`` itself when it is one of :data:`TARGET_TYPES`.

    Raises
    ------
    InvalidParameterError
        ``unknown_target_type`` naming the allowed types.
    """
    if target_type not in TARGET_TYPES:
        msg = f"unknown target type {target_type!r}; expected one of {', '.join(TARGET_TYPES)}"
        raise _invalid(
            msg,
            f"未知的技能码目标类型“{target_type}”，应为 city（全市）、place（地点）、resource（机构）或 skill（工种）",
            code="unknown_target_type",
            value=str(target_type),
            allowed=list(TARGET_TYPES),
        )
    return target_type


def _point(city: CityPack, lon: float | None, lat: float | None, crs: str) -> tuple[float, float] | None:
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        msg = "give both lon and lat, or neither"
        raise _invalid(msg, "经度和纬度须同时提供", code="invalid_coordinates")
    wlon, wlat = to_wgs84(float(lon), float(lat), crs=crs)
    wlon, wlat = round(float(wlon), 7), round(float(wlat), 7)
    city.check_point(wlon, wlat)
    check_on_land(wlon, wlat, city)
    return wlon, wlat


def _district_at(city: CityPack, lon: float, lat: float) -> str | None:
    from geo.boundaries import district_of, districts

    adcode = district_of([lon], [lat], city)[0]
    if adcode is None:
        return None
    frame = districts(city)
    return str(frame.loc[frame["adcode"] == adcode, "name_zh"].iloc[0])


def _town(city: CityPack, value: str, district: str | None) -> tuple[str, str, float, float]:
    """Town ``value`` (name or statistical code) → (name, district name, lon, lat)."""
    from geo.boundaries import towns

    frame = towns(city)
    hit = frame[(frame["name_zh"] == value) | (frame["code"] == value)]
    if district is not None:
        hit = hit[hit["district"] == district]
    if hit.empty:
        msg = f"{value!r} is not a town/sub-district of {district or city.name_en}"
        raise _invalid(msg, f"“{value}”不是{district or city.name_zh}的乡镇或街道", code="unknown_town", value=value)
    if len(hit) > 1:
        msg = f"town name {value!r} exists in several districts; give the district too"
        raise _invalid(
            msg,
            f"多个区县都有“{value}”，请同时指定区县",
            code="ambiguous_town",
            value=value,
            districts=sorted(hit["district"]),
        )
    row = hit.iloc[0]
    return str(row["name_zh"]), str(row["district"]), float(row.geometry.x), float(row.geometry.y)


def skill_offered(session: Session, city_key: str, skill: str) -> bool:
    """Whether some resource of the city ``city_key`` offers the skill (工种) named ``skill``."""
    found = session.scalar(
        select(ResourceSkill.id).join(Resource).where(Resource.city == city_key, ResourceSkill.name == skill).limit(1)
    )
    return found is not None


def target_fields(session: Session, city: CityPack, target: Target) -> dict[str, Any]:
    """Validate a target and return the SkillCode columns it sets (plus ``default_title``).

    Raises
    ------
    InvalidParameterError
        ``invalid_skill_code_target``, ``unknown_target_type``, ``invalid_coordinates``,
        ``unknown_district``, ``unknown_town`` or ``ambiguous_town``.
    CoordinateError, InWaterError
        A point outside the city's service area, or not on land.
    NotFoundError
        No such resource in the city.
    UnknownSkillError
        No resource of the city offers the skill.
    """
    target_type, skill, district, town = target.target_type, target.skill, target.district, target.town
    check_target_type(target_type)
    for name, value in (("skill", skill), ("place_name", target.place_name), ("district", district), ("town", town)):
        check_text(value, field=name)  # printed on posters: it must render
    point = _point(city, target.lon, target.lat, target.crs)
    fields: dict[str, Any] = {
        "target_type": target_type,
        "resource_id": None,
        "skill": None,
        "place_name": (target.place_name or "").strip() or None,
        "district": None,
        "town": None,
        "lon": None,
        "lat": None,
    }
    if district:
        fields["district"], _ = resolve_district(city, district.strip())
    if target_type == "resource":
        resource_id = target.resource_id
        if resource_id is None:
            msg = "a resource code needs resource_id"
            raise _invalid(msg, "机构类技能码须指定机构编号 resource_id")
        res = session.get(Resource, int(resource_id))
        if res is None or res.city != city.key:
            msg = f"no resource with id {resource_id} in {city.key}"
            raise NotFoundError(msg, message_zh=f"找不到编号为 {resource_id} 的机构", details={"id": resource_id})
        fields.update(
            resource_id=res.id,
            district=res.district,
            town=res.town,
            lon=res.lon,
            lat=res.lat,
            place_name=fields["place_name"] or res.name,
            default_title=res.name,
        )
        return fields
    if target_type == "skill":
        skill = (skill or "").strip()
        if not skill:
            msg = "a skill code needs the skill (工种) name"
            raise _invalid(msg, "工种类技能码须指定工种名称")
        if not skill_offered(session, city.key, skill):
            msg = f"no resource in {city.key} offers the skill {skill!r}"
            raise UnknownSkillError(msg, message_zh=f"本市没有提供“{skill}”工种的机构", details={"skill": skill})
        fields["skill"] = skill
        fields["default_title"] = f"{skill} 培训和评价"
    elif target_type == "city":
        fields["default_title"] = f"{city.name_zh} 技能培训和评价"
    if target_type == "place":
        if town:
            name, town_district, tlon, tlat = _town(city, town.strip(), fields["district"])
            fields["town"], fields["district"] = name, town_district
            point = point or (tlon, tlat)
            fields["place_name"] = fields["place_name"] or name
        elif fields["district"] and point is None:
            _, geom = resolve_district(city, fields["district"])
            rep = geom.representative_point()
            point = (round(rep.x, 7), round(rep.y, 7))
        if point is None:
            msg = "a place code needs a point (lon, lat), a town or a district"
            raise _invalid(msg, "地点类技能码须指定坐标、乡镇街道或区县")
        fields["place_name"] = fields["place_name"] or fields["town"] or fields["district"]
        if fields["place_name"] is None:
            msg = "a place code given only a point needs place_name (e.g. the community or factory gate)"
            raise _invalid(msg, "仅给出坐标的地点类技能码须填写地点名称（如社区、厂门口）")
        fields["default_title"] = f"{fields['place_name']} 附近的培训和评价"
    if point is not None:
        city.check_point(*point)
        check_on_land(*point, city)
        fields["lon"], fields["lat"] = point
        if fields["district"] is None:
            fields["district"] = _district_at(city, *point)
    return fields
