"""Import of sheets: all or nothing, row-numbered errors, upsert by external id, CRS conversion."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from geo.cities import load_city
from geo.coords import from_wgs84
from geo.db import session_scope
from geo.errors import ImportValidationError
from geo.importer import import_sheet
from geo.models import AuditEntry, Resource, TrainingClass

JX = load_city("jiaxing")
HEADER = ["external_id", "name", "category", "district", "town", "address", "lon", "lat", "skills", "reg_steps",
          "subsidy_eligible", "seats", "is_sample"]  # fmt: skip


TEST_ROW_PREFIXES = ("T-",)  # removed after the module (conftest._remove_test_rows)


def _row(ext: str, **over: object) -> dict:
    row = {
        "external_id": ext,
        "name": f"【示例】测试培训点 {ext}",
        "category": "职业培训机构",
        "district": "",
        "town": "",
        "address": "示例地址",
        "lon": "120.759",
        "lat": "30.754",
        "skills": "电工|6-31-01-03;焊工",
        "reg_steps": "电话预约;携带身份证报名",
        "subsidy_eligible": "是",
        "seats": "30",
        "is_sample": "是",
    }
    row.update({k: str(v) for k, v in over.items()})
    return row


def _csv(rows: list[dict], header: list[str] = HEADER) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _count(model: type, prefix: str) -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(model).where(model.external_id.like(f"{prefix}%"))) or 0


def _import(data: bytes, *, kind: str = "resources", filename: str = "sheet.csv", crs: str = "wgs84"):
    with session_scope() as s:
        return import_sheet(s, JX, data, kind=kind, filename=filename, crs=crs)


def _errors(exc: pytest.ExceptionInfo) -> list[tuple[int, str | None]]:
    return [(e["row"], e["column"]) for e in exc.value.details["errors"]]


def test_import_creates_then_updates_by_external_id(database: str) -> None:
    rep = _import(_csv([_row("T-UP-1"), _row("T-UP-2")]))
    assert (rep.created, rep.updated) == (2, 0)
    rep = _import(_csv([_row("T-UP-1", name="【示例】改名后"), _row("T-UP-2")]))
    assert (rep.created, rep.updated) == (0, 2)
    assert _count(Resource, "T-UP-") == 2
    with session_scope() as s:
        res = s.scalar(select(Resource).where(Resource.external_id == "T-UP-1"))
        assert res.name == "【示例】改名后"
        assert res.district == "南湖区"  # filled from the district polygon
        assert res.category == "training"
        assert [(k.name, k.code) for k in res.skills] == [("电工", "6-31-01-03"), ("焊工", None)]
        assert res.reg_steps == ["电话预约", "携带身份证报名"]
        assert res.subsidy_eligible and res.is_sample and res.seats == 30
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "import")) >= 2


@pytest.mark.parametrize(
    ("over", "column", "text"),
    [
        ({"category": "夜市摊位"}, "category", "unknown category"),
        ({"name": ""}, "name", "empty"),
        ({"lon": "121.0", "lat": "30.45"}, "lon", "outside"),  # Hangzhou Bay: in the box, but in the sea
        ({"lon": "121.47", "lat": "31.23"}, "lon", "outside"),  # Shanghai: outside the city
        ({"lon": "120.80", "lat": "30.30"}, "lon", "in water"),  # Qiantang estuary: inside 海宁市's polygon
        ({"lon": "abc"}, "lon", "not a number"),
        ({"lat": "95"}, "lon", "out of range"),
        ({"seats": "many"}, "seats", "whole number"),
        ({"seats": "99999999999"}, "seats", "outside"),
        ({"subsidy_eligible": "maybe"}, "subsidy_eligible", "是/否"),
    ],
)
def test_bad_row_is_reported_and_nothing_written(database: str, over: dict, column: str, text: str) -> None:
    rows = [_row("T-BAD-1"), _row("T-BAD-2", **over), _row("T-BAD-3")]
    with pytest.raises(ImportValidationError) as exc:
        _import(_csv(rows))
    assert (3, column) in _errors(exc)  # header = row 1, so the second record is row 3
    assert any(text in e["message_en"] for e in exc.value.details["errors"])
    assert all(e["message_zh"] for e in exc.value.details["errors"])
    assert _count(Resource, "T-BAD-") == 0


def test_duplicate_external_id_in_one_sheet(database: str) -> None:
    with pytest.raises(ImportValidationError) as exc:
        _import(_csv([_row("T-DUP-1"), _row("T-DUP-2"), _row("T-DUP-1")]))
    assert _errors(exc) == [(4, "external_id")]
    assert "row 2" in exc.value.details["errors"][0]["message_en"]
    assert _count(Resource, "T-DUP-") == 0


def test_xlsx_missing_column_names_it(database: str) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["external_id", "name", "lon", "lat"])  # no category
    sheet.append(["T-X-1", "【示例】X", 120.759, 30.754])
    buf = io.BytesIO()
    book.save(buf)
    with pytest.raises(ImportValidationError) as exc:
        _import(buf.getvalue(), filename="sheet.xlsx")
    assert _errors(exc) == [(1, "category")]
    assert "category" in exc.value.message_zh
    assert _count(Resource, "T-X-") == 0


def test_xlsx_with_chinese_headers_and_date_cells(database: str) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "名称", "类别", "经度", "纬度", "工种", "样例"])
    sheet.append(["T-XZ-1", "【示例】中文表头", "技能大师工作室", 120.759, 30.754, "焊工", "是"])
    buf = io.BytesIO()
    book.save(buf)
    rep = _import(buf.getvalue(), filename="资源.xlsx")
    assert rep.created == 1
    with session_scope() as s:
        assert s.scalar(select(Resource.category).where(Resource.external_id == "T-XZ-1")) == "studio"


def test_geojson_and_gcj02_points_are_stored_in_wgs84(database: str) -> None:
    wgs = (120.7590, 30.7540)
    gcj = from_wgs84(*wgs, crs="gcj02")
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [float(gcj[0]), float(gcj[1])]},
        "properties": {"external_id": "T-GJ-1", "name": "【示例】高德坐标", "category": "evaluation"},
    }
    data = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    _import(data, filename="a.geojson", crs="gcj02")
    with session_scope() as s:
        res = s.scalar(select(Resource).where(Resource.external_id == "T-GJ-1"))
        assert abs(res.lon - wgs[0]) < 1e-6 and abs(res.lat - wgs[1]) < 1e-6


def test_bd09_column_per_row(database: str) -> None:
    wgs = (120.7590, 30.7540)
    bd = from_wgs84(*wgs, crs="bd09")
    header = [*HEADER, "crs"]
    _import(_csv([_row("T-BD-1", lon=float(bd[0]), lat=float(bd[1]), crs="bd09")], header=header))
    with session_scope() as s:
        res = s.scalar(select(Resource).where(Resource.external_id == "T-BD-1"))
        assert abs(res.lon - wgs[0]) < 1e-6 and abs(res.lat - wgs[1]) < 1e-6


CLASS_HEADER = ["external_id", "resource_external_id", "skill", "level", "start_date", "end_date", "schedule",
                "seats_total", "seats_left", "fee", "subsidy"]  # fmt: skip


def _class(ext: str, **over: object) -> dict:
    row = {
        "external_id": ext,
        "resource_external_id": "T-CL-R",
        "skill": "电工",
        "level": "五级/初级工",
        "start_date": "2030-03-01",
        "end_date": "2030-03-20",
        "schedule": "晚间班",
        "seats_total": "40",
        "seats_left": "12",
        "fee": "1200",
        "subsidy": "800",
    }
    row.update({k: str(v) for k, v in over.items()})
    return row


def test_classes_import_and_bad_dates(database: str) -> None:
    _import(_csv([_row("T-CL-R")]))
    rep = _import(_csv([_class("T-CL-1"), _class("T-CL-2", start_date="2030/4/1", end_date="2030年4月9日")],
                       CLASS_HEADER), kind="classes")  # fmt: skip
    assert rep.created == 2
    with session_scope() as s:
        c = s.scalar(select(TrainingClass).where(TrainingClass.external_id == "T-CL-1"))
        assert (c.level, c.schedule, c.seats_left) == (5, "evening", 12)
    bad = [
        _class("T-CL-3", start_date="2030-13-40"),
        _class("T-CL-4", end_date="2030-01-01"),
        _class("T-CL-5", resource_external_id="NO-SUCH"),
        _class("T-CL-6", seats_left="99"),
        _class("T-CL-7", level="九级"),
    ]
    with pytest.raises(ImportValidationError) as exc:
        _import(_csv(bad, CLASS_HEADER), kind="classes")
    assert _errors(exc) == [
        (2, "start_date"),
        (3, "end_date"),
        (4, "resource_external_id"),
        (5, "seats_left"),
        (6, "level"),
    ]
    assert _count(TrainingClass, "T-CL-") == 2


def test_unreadable_and_unsupported_files(database: str) -> None:
    with pytest.raises(ImportValidationError) as exc:
        _import(b"PK\x03\x04 not really a zip", filename="broken.xlsx")
    assert exc.value.code == "unreadable_file"
    with pytest.raises(ImportValidationError) as exc:
        _import(b"x", filename="sheet.pdf")
    assert exc.value.code == "unsupported_format"
