"""Text that renders: one validator (geo.text_input) refuses control, private-use and unassigned characters
in the API schemas, the sheet importer, the skill-code service and the CLI alike, with a 422 ``invalid_text``.

The payloads are the fuzzer's (a place name ``¢Q\\x1e\\x11M…`` that crashed the poster renderer) plus one
of each refused class.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from geo.cities import load_city
from geo.db import session_scope
from geo.errors import ImportValidationError, InvalidTextError
from geo.importer import import_sheet
from geo.models import Resource, SkillCode
from geo.text_input import check_text, text_problem

JX = load_city("jiaxing")
FUZZER = "¢Q\x1e\x11M\ue000"
HOSTILE = {
    "control": "嘉兴\x1e培训",
    "nul": "培训\x00点",
    "tab": "培训\t点",
    "private_use": "培训\ue000点",
    "unassigned": "培训\u0378点",
    "noncharacter": "培训\U0010fffe",
    "bidi_override": "培训\u202e点",
    "line_separator": "培训\u2028点",
    "fuzzer": FUZZER,
}


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_text_is_refused_with_the_code_point(name: str) -> None:
    text = HOSTILE[name]
    problem = text_problem(text)
    assert problem is not None
    with pytest.raises(InvalidTextError) as err:
        check_text(text, field="place_name")
    assert err.value.status == 422 and err.value.code == "invalid_text"
    assert problem.code_point in err.value.message_en and problem.code_point in err.value.message_zh
    assert "place_name" in err.value.message_zh and err.value.details["field"] == "place_name"


@pytest.mark.parametrize(
    "text",
    ["嘉兴技师学院", "南湖区\u3000建设街道", "电工（初级）·焊工", "👩\u200d🔧 技能大师", "ASCII only", "", "Café ☕"],
)
def test_ordinary_text_passes(text: str) -> None:
    assert text_problem(text) is None and check_text(text, field="name") == text


def test_newline_only_in_multiline_fields() -> None:
    assert text_problem("一楼\n二楼", multiline=True) is None
    assert text_problem("一楼\n二楼") is not None
    assert check_text("一楼\r\n二楼", field="address", multiline=True) == "一楼\n二楼"
    assert text_problem("一楼\r二楼", multiline=True) is not None  # a lone CR is still a control character


# ---------------------------------------------------------------------------------------------- API
def test_skill_code_place_name_and_title_are_checked(client, admin_token) -> None:
    body = {"city": "jiaxing", "target_type": "place", "district": "南湖区", "place_name": FUZZER}
    r = client.post("/api/v1/admin/skill-codes", json=body, headers=_auth(admin_token))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_text" and "U+001E" in err["message_en"] and "place_name" in err["message_zh"]
    for field in ("title", "town", "district"):
        r = client.post(
            "/api/v1/admin/skill-codes",
            json={"city": "jiaxing", "target_type": "place", "district": "南湖区", field: HOSTILE["private_use"]},
            headers=_auth(admin_token),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text", (field, r.text)
    with session_scope() as s:
        assert not s.scalars(select(SkillCode).where(SkillCode.place_name == FUZZER)).all()
    ok = client.post(
        "/api/v1/admin/skill-codes",
        json={"city": "jiaxing", "target_type": "place", "district": "南湖区", "place_name": "建设街道 文昌社区"},
        headers=_auth(admin_token),
    )
    assert ok.status_code == 201, ok.text
    code = ok.json()["code"]
    patch = client.patch(f"/api/v1/admin/skill-codes/{code}", json={"title": "标题\x11"}, headers=_auth(admin_token))
    assert patch.status_code == 422 and patch.json()["error"]["code"] == "invalid_text"


def test_resource_and_event_text_fields_are_checked(client, admin_token) -> None:
    base = {"external_id": "TXT-1", "name": "【示例】文本检查", "category": "training", "lon": 120.76, "lat": 30.75}
    cases = [
        {"name": HOSTILE["control"]},
        {"address": HOSTILE["private_use"]},
        {"skills": [{"name": HOSTILE["bidi_override"]}]},
        {"registration": {"steps": ["电话\x07预约"]}},
        {"subsidy": {"note": HOSTILE["unassigned"]}},
        {"external_id": "TXT\x002"},
    ]
    for over in cases:
        r = client.post("/api/v1/admin/resources", json={**base, **over}, headers=_auth(admin_token))
        assert r.status_code == 422, (over, r.text)
        err = r.json()["error"]
        assert err["code"] == "invalid_text" and err["message_zh"] and err["details"]["code_point"], err
    multi = {**base, "address": "嘉兴市南湖区\n某路 1 号（示例）", "subsidy": {"note": "第一行\n第二行"}}
    r = client.post("/api/v1/admin/resources", json=multi, headers=_auth(admin_token))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["address"] == "嘉兴市南湖区\n某路 1 号（示例）"
    klass = {
        "external_id": "TXT-CL-1",
        "resource_id": rid,
        "skill": "电工\x1b[31m",
        "level": 5,
        "start_date": "2026-12-10",
        "end_date": "2026-12-20",
        "schedule": "weekend",
        "seats_total": 10,
        "seats_left": 5,
    }
    r = client.post("/api/v1/admin/classes", json=klass, headers=_auth(admin_token))
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text", r.text
    assert client.delete(f"/api/v1/admin/resources/{rid}", headers=_auth(admin_token)).status_code == 204


def test_planner_labels_are_checked(client) -> None:
    body = {"category": "training", "add": [{"lon": 120.76, "lat": 30.75, "label": "候选\ue000"}]}
    r = client.post("/api/v1/plan/whatif", json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text", r.text


# ---------------------------------------------------------------------------------------------- importer, CLI
def _sheet(rows: list[dict]) -> bytes:
    header = ["external_id", "name", "category", "address", "lon", "lat", "subsidy_note", "is_sample"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header)
    writer.writeheader()
    for row in rows:
        writer.writerow({"category": "training", "lon": "120.759", "lat": "30.754", "is_sample": "是", **row})
    return buf.getvalue().encode("utf-8")


def test_importer_refuses_unrenderable_cells_by_row_and_column(database: str) -> None:
    rows = [
        {"external_id": "TXT-IMP-1", "name": "【示例】好的名称", "address": "一楼\r\n二楼", "subsidy_note": "a\nb"},
        {"external_id": "TXT-IMP-2", "name": FUZZER},
        {"external_id": "TXT-IMP-3", "name": "【示例】地址", "address": "路\ue000号"},
        {"external_id": "TXT-IMP-4", "name": "x" * 301},
    ]
    with pytest.raises(ImportValidationError) as exc, session_scope() as s:
        import_sheet(s, JX, _sheet(rows), kind="resources", filename="t.csv")
    found = {(e["row"], e["column"], e["kind"]) for e in exc.value.details["errors"]}
    assert found == {(3, "name", "invalid_text"), (4, "address", "invalid_text"), (5, "name", "too_long")}
    assert exc.value.details["counts"] == {"invalid_text": 2, "too_long": 1}
    with session_scope() as s:
        assert not s.scalars(select(Resource).where(Resource.external_id.like("TXT-IMP-%"))).all()
    with session_scope() as s:  # the good row alone imports, its multi-line cells kept with \n
        import_sheet(s, JX, _sheet(rows[:1]), kind="resources", filename="t.csv")
    with session_scope() as s:
        res = s.scalar(select(Resource).where(Resource.external_id == "TXT-IMP-1"))
        assert res.address == "一楼\n二楼" and res.subsidy_note == "a\nb"
        s.delete(res)


def test_cli_skill_code_create_refuses_hostile_place_name(database: str, jiaxing_sample) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    result = CliRunner().invoke(app, ["codes", "create", "jiaxing", "--district", "南湖区", "--place-name", FUZZER])
    assert result.exit_code != 0
    assert "invalid_text" in result.output or "U+001E" in result.output, result.output


# ---------------------------------------------------------------------------------------------- error cap
def test_error_report_is_capped_with_counts_by_kind(database: str) -> None:
    """An all-bad 20,000-row sheet: the first 1,000 problems, the total, and counts by kind (not 40 MB)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["external_id", "name", "category", "lon", "lat"])
    for i in range(20_000):
        writer.writerow([f"CAP-{i}", "", "no-such-category", "abc", "999"])
    with pytest.raises(ImportValidationError) as exc, session_scope() as s:
        import_sheet(s, JX, buf.getvalue().encode(), kind="resources", filename="bad.csv")
    details = exc.value.details
    assert len(details["errors"]) == 1000 and details["truncated"] is True
    assert details["error_count"] == sum(details["counts"].values()) >= 60_000
    assert details["counts"]["required"] == 20_000 and details["counts"]["not_a_number"] == 20_000
    assert details["columns"]["name"] == 20_000
    assert str(details["error_count"]) in exc.value.message_en and str(details["error_count"]) in exc.value.message_zh
    assert len(json.dumps(exc.value.to_dict(), ensure_ascii=False)) < 400_000


def test_query_parameters_must_be_renderable_text(client) -> None:
    """``q=%00`` and friends are a 422 before any database (PostgreSQL refuses NUL) or page sees them."""
    cases = [
        ("/api/v1/resources", {"city": "jiaxing", "q": "焊\x00工"}),
        ("/api/v1/resources", {"city": "jiaxing", "district": "南湖\ue000区"}),
        ("/api/v1/classes", {"city": "jiaxing", "skill": "电工\x1b"}),
        ("/api/v1/nearby", {"city": "jiaxing", "lat": 30.75, "lon": 120.76, "skill": "\u202e焊工"}),
        ("/map", {"city": "jiaxing", "lang": "zh\x07"}),
    ]
    for path, params in cases:
        r = client.get(path, params=params)
        assert r.status_code == 422, (path, r.status_code, r.text[:200])
        err = r.json()["error"]
        assert err["code"] == "invalid_text" and err["message_zh"] and err["details"]["code_point"], err
    assert client.get("/api/v1/resources", params={"city": "jiaxing", "q": "焊工　培训"}).status_code == 200
