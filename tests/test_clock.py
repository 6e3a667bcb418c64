"""One clock: "today" is the city's date (its pack's time zone), "upcoming" has one definition, and
every timestamp goes out with its offset."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from geo import clock
from geo.db import session_scope
from geo.models import Resource

# 2026-06-30 17:30 UTC is already 2026-07-01 01:30 in Jiaxing (UTC+8), still 20:30 on June 30 in Helsinki
INSTANT = datetime(2026, 6, 30, 17, 30, tzinfo=UTC)
OFFSET = re.compile(r"(Z|[+-]\d\d:\d\d)$")


@pytest.fixture
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "utcnow", lambda: INSTANT)
    return INSTANT


def test_today_is_the_citys_date(fixed_clock) -> None:
    assert clock.city_today("jiaxing") == date(2026, 7, 1)
    assert clock.city_today("demo") == date(2026, 6, 30)
    assert clock.city_now("jiaxing").utcoffset().total_seconds() == 8 * 3600
    assert clock.city_today("atlantis") == date(2026, 7, 1)  # unknown city: the default zone, no error


def _class(resource_id: int, ext: str, start: str, end: str, **extra) -> dict:
    return {
        "resource_id": resource_id,
        "external_id": ext,
        "skill": "时区测试工种",
        "level": 4,
        "start_date": start,
        "end_date": end,
        "schedule": "weekday",
        "seats_total": 10,
        "seats_left": 5,
        "is_sample": True,
        **extra,
    }


def test_upcoming_classes_use_the_citys_today(client, admin_token: str, fixed_clock) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    with session_scope() as s:
        rid = s.scalar(select(Resource.id).where(Resource.city == "jiaxing").order_by(Resource.id).limit(1))
    made = []
    try:
        for ext, start, end in (
            ("TZ-ENDED", "2026-06-20", "2026-06-30"),  # ended yesterday in Jiaxing (today in UTC)
            ("TZ-RUNNING", "2026-06-20", "2026-07-01"),  # runs until today: upcoming, but sign-up closed
            ("TZ-OPEN", "2026-07-01", "2026-07-10"),  # starts today: open for sign-up
        ):
            resp = client.post("/api/v1/admin/classes", json=_class(rid, ext, start, end), headers=h)
            assert resp.status_code == 201, resp.text
            made.append(resp.json()["id"])
        listed = client.get("/api/v1/classes", params={"city": "jiaxing", "skill": "时区测试工种"}).json()
        assert sorted(i["external_id"] for i in listed["items"]) == ["TZ-OPEN", "TZ-RUNNING"]
        detail = client.get(f"/api/v1/resources/{rid}", params={"city": "jiaxing", "limit": 50}).json()
        shown = {c["external_id"] for c in detail["next_classes"]}
        assert {"TZ-OPEN", "TZ-RUNNING"} <= shown and "TZ-ENDED" not in shown
        with session_scope() as s:
            from geo.models import TrainingClass

            rows = s.scalars(select(TrainingClass).where(TrainingClass.skill == "时区测试工种")).all()
            opened = s.scalars(
                select(TrainingClass.external_id).where(
                    TrainingClass.skill == "时区测试工种", clock.open_class(clock.city_today("jiaxing"))
                )
            ).all()
            assert opened == ["TZ-OPEN"]
            assert {c.external_id: clock.signup_deadline(c) for c in rows}["TZ-OPEN"] == date(2026, 7, 1)
    finally:
        for cid in made:
            client.delete(f"/api/v1/admin/classes/{cid}", headers=h)


def test_every_timestamp_goes_out_with_its_offset(client, admin_token: str) -> None:
    h = {"Authorization": f"Bearer {admin_token}"}
    with session_scope() as s:
        rid = s.scalar(select(Resource.id).where(Resource.city == "jiaxing").limit(1))
    res = client.get(f"/api/v1/resources/{rid}", params={"city": "jiaxing"}).json()
    assert OFFSET.search(res["updated_at"]), res["updated_at"]
    listed = client.get("/api/v1/resources", params={"city": "jiaxing", "page_size": 3}).json()
    assert all(OFFSET.search(r["updated_at"]) for r in listed["items"])
    classes = client.get("/api/v1/classes", params={"city": "jiaxing", "page_size": 3}).json()["items"]
    assert classes and all(OFFSET.search(c["updated_at"]) for c in classes if c.get("updated_at"))
    audit = client.get("/api/v1/admin/audit", headers=h, params={"limit": 5}).json()
    assert audit and all(OFFSET.search(a["at"]) for a in audit)
