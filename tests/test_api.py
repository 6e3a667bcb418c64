"""The public and admin HTTP API, driven over HTTP with FastAPI's TestClient (httpx)."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from geo.categories import CATEGORY_KEYS
from geo.db import head_revision, session_scope
from geo.models import Resource, TrainingClass
from tests._servers import PATIENCE_S

JX_COUNTS = {"college": 16, "training": 123, "evaluation": 32, "base": 10, "studio": 189}


def _error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert body["code"] == code
    assert body["message_zh"] and body["message_en"]
    return body


def test_jiaxing_counts_per_category(client) -> None:
    for key, expected in JX_COUNTS.items():
        body = client.get("/api/v1/resources", params={"city": "jiaxing", "category": key, "page_size": 1}).json()
        assert body["total"] == expected, key
        assert body["sample"] is True and "示例" in body["notice"]["zh"]
    towns = client.get("/api/v1/resources", params={"category": "village", "page_size": 1}).json()["total"]
    assert 60 <= towns <= 80  # about one per town/sub-district


def test_resources_filters_and_pagination(client) -> None:
    first = client.get("/api/v1/resources", params={"page_size": 10}).json()
    second = client.get("/api/v1/resources", params={"page_size": 10, "page": 2}).json()
    assert len(first["items"]) == 10 and len(second["items"]) == 10
    assert {r["id"] for r in first["items"]}.isdisjoint({r["id"] for r in second["items"]})
    assert (
        first["total"]
        == sum(JX_COUNTS.values()) + client.get("/api/v1/resources", params={"category": "village"}).json()["total"]
    )
    skills = client.get("/api/v1/skills").json()
    skill = skills[0]["name"]
    by_skill = client.get("/api/v1/resources", params={"skill": skill, "page_size": 500}).json()
    assert by_skill["total"] == skills[0]["resources"]
    assert all(skill in [s["name"] for s in r["skills"]] for r in by_skill["items"])
    nanhu = client.get("/api/v1/resources", params={"district": "南湖区", "page_size": 500}).json()
    assert nanhu["total"] > 0 and all(r["district"] == "南湖区" for r in nanhu["items"])
    text = client.get("/api/v1/resources", params={"q": "示例", "page_size": 1}).json()
    assert text["total"] == first["total"]  # every sample name says 示例
    two = client.get("/api/v1/resources", params={"category": "college,base", "page_size": 1}).json()
    assert two["total"] == 26


def test_geojson_by_accept_header_and_format(client) -> None:
    resp = client.get("/api/v1/resources", params={"category": "base"}, headers={"Accept": "application/geo+json"})
    assert resp.headers["content-type"].startswith("application/geo+json")
    fc = resp.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 10
    assert fc["sample"] is True
    lon, lat = fc["features"][0]["geometry"]["coordinates"]
    assert 120 < lon < 122 and 30 < lat < 31.5
    assert client.get("/api/v1/resources", params={"format": "geojson"}).json()["type"] == "FeatureCollection"


def test_resource_crs_conversion(client) -> None:
    from geo.coords import from_wgs84

    wgs = client.get("/api/v1/resources", params={"page_size": 1}).json()["items"][0]
    gcj = client.get("/api/v1/resources", params={"page_size": 1, "crs": "gcj02"}).json()["items"][0]
    exp = from_wgs84(wgs["lon"], wgs["lat"], crs="gcj02")
    assert gcj["crs"] == "gcj02"
    assert abs(gcj["lon"] - float(exp[0])) < 1e-6 and abs(gcj["lat"] - float(exp[1])) < 1e-6
    assert abs(gcj["lon"] - wgs["lon"]) > 1e-3  # GCJ-02 is visibly shifted in China


def test_resource_detail_with_next_classes(client) -> None:
    with session_scope() as s:
        rid = s.scalar(select(TrainingClass.resource_id).where(TrainingClass.city == "jiaxing").limit(1))
    body = client.get(f"/api/v1/resources/{rid}").json()
    assert body["id"] == rid and body["next_classes"]
    assert body["registration"]["steps"]
    starts = [c["start_date"] for c in body["next_classes"]]
    assert starts == sorted(starts)
    assert body["notice"]["zh"]
    _error(client.get("/api/v1/resources/999999"), 404, "not_found")
    _error(client.get("/api/v1/resources/abc"), 422, "invalid_parameter")
    _error(client.get("/api/v1/resources/0"), 422, "invalid_parameter")


def test_classes_and_evaluations_filters(client) -> None:
    today = date.today()
    evening = client.get("/api/v1/classes", params={"schedule": "evening", "page_size": 500}).json()
    assert evening["total"] > 0 and all(c["schedule"] == "evening" for c in evening["items"])
    assert all(c["schedule_label"] == "晚间班" for c in evening["items"])
    lvl = client.get("/api/v1/classes", params={"level": 5, "seats_left": True, "page_size": 500}).json()
    assert all(c["level"] == 5 and c["seats_left"] > 0 for c in lvl["items"])
    window = client.get(
        "/api/v1/classes", params={"date_to": (today + timedelta(days=14)).isoformat(), "page_size": 500}
    ).json()
    assert all(c["start_date"] <= (today + timedelta(days=14)).isoformat() for c in window["items"])
    evals = client.get("/api/v1/evaluations", params={"weekend": True, "page_size": 500}).json()
    assert all(date.fromisoformat(e["date"]).weekday() >= 5 for e in evals["items"])
    allev = client.get("/api/v1/evaluations", params={"page_size": 1}).json()
    assert allev["total"] > 0
    _error(client.get("/api/v1/classes", params={"level": 9}), 422, "invalid_parameter")
    _error(client.get("/api/v1/classes", params={"schedule": "midnight"}), 422, "invalid_parameter")
    bad_range = {"date_from": "2030-02-01", "date_to": "2030-01-01"}
    _error(client.get("/api/v1/evaluations", params=bad_range), 422, "bad_date_range")
    _error(client.get("/api/v1/classes", params={"date_from": "2030-02-31"}), 422, "invalid_parameter")


def test_categories_and_unknown_inputs(client) -> None:
    cats = client.get("/api/v1/categories", params={"lang": "en"}).json()
    assert [c["key"] for c in cats] == list(CATEGORY_KEYS)
    _error(client.get("/api/v1/resources", params={"category": "夜市"}), 422, "unknown_category")
    _error(client.get("/api/v1/resources", params={"city": "atlantis"}), 404, "unknown_city")
    _error(client.get("/api/v1/resources", params={"page_size": 100000}), 422, "invalid_parameter")
    _error(client.get("/api/v1/no-such-endpoint"), 404, "not_found")


def test_healthz_and_metrics(client) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["database"]["revision"] == head_revision()
    assert health["dependencies"]["database"]["ok"] is True and health["down"] == []
    assert client.get("/livez").json() == {"status": "alive"}
    assert set(health["cities"]) == {"jiaxing", "demo"}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "skillcircle_http_requests_total" in metrics.text
    assert 'route="/api/v1/resources"' in metrics.text


# ---------------------------------------------------------------- admin (write side)


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


NEW_RESOURCE = {
    "external_id": "API-NEW-1",
    "name": "【示例】接口新建培训点",
    "category": "training",
    "lon": 120.76,
    "lat": 30.75,
    "skills": [{"name": "育婴员", "code": "4-10-01-02"}],
    "registration": {"steps": ["电话咨询", "现场报名"], "phone": "0573-0000000（示例）"},
    "seats": 20,
    "is_sample": True,
}


def test_admin_requires_token_and_scope(client) -> None:
    from geo.tokens import create_token, revoke_token

    _error(client.post("/api/v1/admin/resources", json=NEW_RESOURCE), 401, "unauthorized")
    _error(client.post("/api/v1/admin/resources", json=NEW_RESOURCE, headers=_auth("sc_nope")), 401, "unauthorized")
    with session_scope() as s:
        codes_only = create_token(s, name="codes-only", scopes=["codes:write"])
        writer = create_token(s, name="to-revoke", scopes=["resources:write"])
    _error(client.post("/api/v1/admin/resources", json=NEW_RESOURCE, headers=_auth(codes_only)), 403, "forbidden")
    with session_scope() as s:
        revoke_token(s, name="to-revoke")
    _error(client.post("/api/v1/admin/resources", json=NEW_RESOURCE, headers=_auth(writer)), 401, "unauthorized")


def test_admin_crud_with_audit(client, admin_token: str) -> None:
    h = _auth(admin_token)
    created = client.post("/api/v1/admin/resources", json=NEW_RESOURCE, headers=h)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    assert created.json()["district"] == "南湖区"
    _error(client.post("/api/v1/admin/resources", json=NEW_RESOURCE, headers=h), 409, "conflict")
    changed = {**NEW_RESOURCE, "name": "【示例】改名", "seats": 25}
    assert client.put(f"/api/v1/admin/resources/{rid}", json=changed, headers=h).json()["name"] == "【示例】改名"
    klass = {
        "external_id": "API-CL-1",
        "resource_id": rid,
        "skill": "育婴员",
        "level": 4,
        "start_date": (date.today() + timedelta(days=3)).isoformat(),
        "end_date": (date.today() + timedelta(days=10)).isoformat(),
        "schedule": "weekend",
        "seats_total": 30,
        "seats_left": 30,
        "fee": 900,
        "subsidy": 600,
        "is_sample": True,
    }
    resp = client.post("/api/v1/admin/classes", json=klass, headers=h)
    assert resp.status_code == 201, resp.text
    cid = resp.json()["id"]
    bad = {**klass, "external_id": "API-CL-2", "seats_left": 99}
    _error(client.post("/api/v1/admin/classes", json=bad, headers=h), 422, "bad_seats")
    assert client.get(f"/api/v1/resources/{rid}").json()["next_classes"][0]["id"] == cid
    audit = client.get("/api/v1/admin/audit", params={"entity": "resource"}, headers=h).json()
    update = next(a for a in audit if a["action"] == "update" and a["entity_id"] == str(rid))
    assert update["actor"] == "test-admin"
    assert update["changes"]["name"] == {"from": "【示例】接口新建培训点", "to": "【示例】改名"}
    assert client.delete(f"/api/v1/admin/resources/{rid}", headers=h).status_code == 204
    _error(client.get(f"/api/v1/resources/{rid}"), 404, "not_found")
    deleted = client.get("/api/v1/admin/audit", params={"entity": "resource"}, headers=h).json()
    deleted = next(a for a in deleted if a["action"] == "delete" and a["entity_id"] == str(rid))
    assert deleted["changes"]["name"] == {"from": "【示例】改名", "to": None}
    with session_scope() as s:
        assert s.get(TrainingClass, cid) is None  # its classes went with it


def test_admin_event_writes_are_audited_under_singular_entity_names(client, admin_token: str) -> None:
    """Classes and evaluations written through the admin API are filed as ``class`` and ``evaluation``
    (the console's names), with the same audited fields as the console's edits."""
    h = _auth(admin_token)
    since = client.get("/api/v1/admin/audit", params={"limit": 1}, headers=h).json()[0]["id"]
    rid = client.post("/api/v1/admin/resources", json={**NEW_RESOURCE, "external_id": "API-AUD-R"}, headers=h).json()[
        "id"
    ]
    start = date.today() + timedelta(days=4)
    klass = {
        "external_id": "API-AUD-CL",
        "resource_id": rid,
        "skill": "育婴员",
        "level": 4,
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=7)).isoformat(),
        "schedule": "evening",
        "seats_total": 20,
        "seats_left": 20,
        "is_sample": True,
    }
    cid = client.post("/api/v1/admin/classes", json=klass, headers=h).json()["id"]
    assert client.put(f"/api/v1/admin/classes/{cid}", json={**klass, "seats_left": 15}, headers=h).status_code == 200
    session = {
        "external_id": "API-AUD-EV",
        "resource_id": rid,
        "skill": "育婴员",
        "level": 4,
        "date": start.isoformat(),
        "seats_left": 10,
        "is_sample": True,
    }
    eid = client.post("/api/v1/admin/evaluations", json=session, headers=h).json()["id"]
    # a refused write (external id of another class; seats over the total) is audited not at all
    clash = {**klass, "external_id": "API-AUD-CL2"}
    cid2 = client.post("/api/v1/admin/classes", json=clash, headers=h).json()["id"]
    _error(client.put(f"/api/v1/admin/classes/{cid2}", json=klass, headers=h), 409, "conflict")
    _error(client.put(f"/api/v1/admin/classes/{cid2}", json={**clash, "seats_left": 99}, headers=h), 422, "bad_seats")
    assert client.delete(f"/api/v1/admin/evaluations/{eid}", headers=h).status_code == 204
    _error(client.put(f"/api/v1/admin/evaluations/{eid}", json=session, headers=h), 404, "not_found")
    log = [a for a in client.get("/api/v1/admin/audit", params={"limit": 100}, headers=h).json() if a["id"] > since]
    assert not [a for a in log if a["entity"] in ("classe", "evaluation_")]
    classes = [(a["action"], a["changes"]) for a in log if a["entity"] == "class" and a["entity_id"] == str(cid)]
    assert [action for action, _ in classes] == ["update", "create"]  # newest first
    assert classes[0][1] == {"seats_left": {"from": 20, "to": 15}}
    assert classes[1][1]["start_date"] == {"from": None, "to": start.isoformat()}
    assert classes[1][1]["resource_external_id"] == {"from": None, "to": "API-AUD-R"}
    assert [a["action"] for a in log if a["entity"] == "class" and a["entity_id"] == str(cid2)] == ["create"]
    evaluations = [a["action"] for a in log if a["entity"] == "evaluation" and a["entity_id"] == str(eid)]
    assert evaluations == ["delete", "create"]
    assert client.delete(f"/api/v1/admin/resources/{rid}", headers=h).status_code == 204


def test_admin_rejects_points_outside_and_bad_bodies(client, admin_token: str) -> None:
    h = _auth(admin_token)
    sea = {**NEW_RESOURCE, "external_id": "API-SEA", "lon": 121.0, "lat": 30.45}
    _error(client.post("/api/v1/admin/resources", json=sea, headers=h), 422, "outside_service_area")
    estuary = {**NEW_RESOURCE, "external_id": "API-WET", "lon": 120.80, "lat": 30.30}  # inside 海宁市's polygon
    _error(client.post("/api/v1/admin/resources", json=estuary, headers=h), 422, "in_water")
    far = {**NEW_RESOURCE, "external_id": "API-FAR", "lon": 116.4, "lat": 39.9}
    _error(client.post("/api/v1/admin/resources", json=far, headers=h), 422, "outside_service_area")
    _error(client.post("/api/v1/admin/resources", json={"name": "x"}, headers=h), 422, "invalid_parameter")
    junk = {**NEW_RESOURCE, "external_id": "API-J", "category": "夜市"}
    _error(client.post("/api/v1/admin/resources", json=junk, headers=h), 422, "unknown_category")
    _error(client.put("/api/v1/admin/resources/999999", json=NEW_RESOURCE, headers=h), 404, "not_found")


def _sheet(rows: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def wait_for_job(client, headers: dict, accepted) -> dict:
    """Poll the job an upload answered 202 with until it has ended; its final state."""
    assert accepted.status_code == 202, accepted.text
    url = accepted.json()["status_url"]
    assert accepted.headers["Location"] == url
    deadline = time.monotonic() + PATIENCE_S  # a hang guard, not a speed claim
    while (job := client.get(url, headers=headers).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"job never ended: {job}"
        time.sleep(0.1)
    return job


def test_admin_upload_all_or_nothing(client, admin_token: str) -> None:
    h = _auth(admin_token)
    good = {"external_id": "UP-1", "name": "【示例】上传", "category": "studio", "lon": "120.76", "lat": "30.75"}
    bad = {**good, "external_id": "UP-2", "category": "???"}
    resp = client.post(
        "/api/v1/admin/import",
        headers=h,
        files={"file": ("s.csv", _sheet([good, bad]), "text/csv")},
        data={"kind": "resources"},
    )
    job = wait_for_job(client, h, resp)
    assert job["status"] == "failed" and job["error"]["code"] == "import_invalid"
    assert job["error"]["details"]["errors"][0]["row"] == 3
    assert job["error"]["details"]["errors"][0]["column"] == "category"
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Resource).where(Resource.external_id == "UP-1")) == 0
    resp = client.post("/api/v1/admin/import", headers=h, files={"file": ("s.csv", _sheet([good]), "text/csv")})
    job = wait_for_job(client, h, resp)
    assert job["status"] == "succeeded"
    assert job["result"] == {"kind": "resources", "rows": 1, "created": 1, "updated": 0, "encoding": "utf-8"}
    with session_scope() as s:
        rid = s.scalar(select(Resource.id).where(Resource.external_id == "UP-1"))
    assert client.delete(f"/api/v1/admin/resources/{rid}", headers=h).status_code == 204
    big = b"x" * (11 * 1024 * 1024)
    _error(
        client.post("/api/v1/admin/import", headers=h, files={"file": ("s.csv", big, "text/csv")}),
        413,
        "payload_too_large",
    )


def test_rate_limit_answers_429_with_retry_after(database: str) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from geo.config import get_settings

    settings = get_settings()
    old = settings.rate_limit_per_minute
    settings.rate_limit_per_minute = 3
    try:
        with TestClient(create_app()) as c:
            codes = [c.get("/api/v1/categories").status_code for _ in range(5)]
            last = c.get("/api/v1/categories")
    finally:
        settings.rate_limit_per_minute = old
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    assert int(last.headers["Retry-After"]) >= 1
    assert last.json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("kind", ["classes", "evaluations"])
def test_admin_event_not_found(client, admin_token: str, kind: str) -> None:
    _error(client.delete(f"/api/v1/admin/{kind}/999999", headers=_auth(admin_token)), 404, "not_found")
