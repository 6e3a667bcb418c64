"""Import files at a bounded cost and without surprises: zip bombs, size/row/column/sheet limits, hidden
sheets and ``--sheet``, GeoJSON Points only, CSV encodings (UTF-8 ± BOM, UTF-16, GBK/GB18030), and LIKE
wildcards in ``q=``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from benchmarks.bench_sheet_limits import honest_xlsx, read_in_fresh_process, write_bomb
from geo.cities import load_city
from geo.db import session_scope
from geo.errors import ImportValidationError, PayloadTooLargeError
from geo.importer import import_sheet
from geo.models import Resource
from geo.sheet_files import SheetLimits
from geo.sheets import read_sheet

JX = load_city("jiaxing")
ROOT = Path(__file__).resolve().parent.parent
HEADER = ["external_id", "name", "category", "lon", "lat", "is_sample"]
SMALL = SheetLimits(
    max_bytes=1024 * 1024, max_rows=50, max_columns=10, max_sheets=3, max_unzipped_bytes=4 * 1024**2, max_ratio=100
)


TEST_ROW_PREFIXES = ("SF-",)  # removed after the module (conftest._remove_test_rows)


def _record(ext: str, name: str = "") -> list:
    return [ext, name or f"【示例】文件测试 {ext}", "职业培训机构", 120.759, 30.754, "是"]


def _xlsx(sheets: list[tuple[str, list[list], str]]) -> bytes:
    """A workbook of (title, rows, state) sheets, in order."""
    book = Workbook()
    book.remove(book.active)
    for title, rows, state in sheets:
        ws = book.create_sheet(title)
        for row in rows:
            ws.append(row)
        ws.sheet_state = state
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def _hide_every_sheet(data: bytes) -> bytes:
    """The workbook with every sheet hidden (openpyxl refuses to save one; other programs do)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/workbook.xml":
                text = body.decode().replace(' state="hidden"', "").replace(' state="visible"', "")
                body = text.replace("<sheet ", '<sheet state="hidden" ').encode()
            out.writestr(info, body)
    return buf.getvalue()


def _import(data: bytes, filename: str, **kw):
    with session_scope() as s:
        return import_sheet(s, JX, data, kind="resources", filename=filename, **kw)


def _names(prefix: str) -> set[str]:
    with session_scope() as s:
        return set(s.scalars(select(Resource.external_id).where(Resource.external_id.like(f"{prefix}%"))))


# ---------------------------------------------------------------------------------------------- sheets
def test_hidden_first_sheet_is_not_imported_silently(database: str) -> None:
    data = _xlsx(
        [
            ("旧数据", [HEADER, _record("SF-HID-OLD")], "hidden"),
            ("资源", [HEADER, _record("SF-HID-NEW")], "visible"),
        ]
    )
    report = _import(data, "book.xlsx")
    assert report.sheet == "资源" and report.to_dict()["sheet"] == "资源"
    assert _names("SF-HID-") == {"SF-HID-NEW"}
    named = _import(data, "book.xlsx", sheet="旧数据")  # a hidden sheet only when named
    assert named.sheet == "旧数据" and _names("SF-HID-") == {"SF-HID-NEW", "SF-HID-OLD"}
    with pytest.raises(ImportValidationError) as err:
        _import(data, "book.xlsx", sheet="Sheet9")
    assert err.value.code == "unknown_sheet" and "旧数据" in err.value.message_zh
    all_hidden = _hide_every_sheet(_xlsx([("a", [HEADER, _record("SF-HID-X")], "visible"), ("b", [HEADER], "hidden")]))
    with pytest.raises(ImportValidationError) as err:
        _import(all_hidden, "book.xlsx")
    assert err.value.code == "no_visible_sheet" and err.value.status == 422


def test_cli_import_takes_sheet_and_upload_takes_sheet_field(tmp_path, client, admin_token) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    data = _xlsx([("说明", [["本表为说明"]], "visible"), ("资源表", [HEADER, _record("SF-CLI-1")], "visible")])
    path = tmp_path / "book.xlsx"
    path.write_bytes(data)
    runner = CliRunner()
    first = runner.invoke(app, ["import", "jiaxing", str(path)])
    assert first.exit_code != 0 and "missing required column" in first.output  # the first visible sheet: 说明
    ok = runner.invoke(app, ["import", "jiaxing", str(path), "--sheet", "资源表"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output.strip().splitlines()[-1])["sheet"] == "资源表"
    r = client.post(
        "/api/v1/admin/import",
        params={"city": "jiaxing"},
        data={"kind": "resources", "sheet": "资源表"},
        files={"file": ("book.xlsx", data)},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert r.status_code in (200, 202), r.text


def test_geojson_accepts_point_geometries_only(database: str) -> None:
    def feature(ext: str, geometry: object) -> dict:
        props = {"external_id": ext, "name": f"【示例】{ext}", "category": "evaluation", "lon": 120.75, "lat": 30.75}
        return {"type": "Feature", "geometry": geometry, "properties": props}

    square = [[[120.7, 30.7], [120.8, 30.7], [120.8, 30.8], [120.7, 30.7]]]
    features = [
        feature("SF-GJ-1", {"type": "Point", "coordinates": [120.759, 30.754]}),
        feature("SF-GJ-2", {"type": "Polygon", "coordinates": square}),
        feature("SF-GJ-3", None),
        feature("SF-GJ-4", {"type": "MultiPoint", "coordinates": [[120.759, 30.754]]}),
        feature("SF-GJ-5", {"type": "Point", "coordinates": ["120", "30"]}),
    ]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    with pytest.raises(ImportValidationError) as err:
        _import(data, "points.geojson")
    errors = err.value.details["errors"]
    assert [(e["row"], e["column"], e["kind"]) for e in errors] == [
        (3, "geometry", "not_a_point"),
        (4, "geometry", "not_a_point"),
        (5, "geometry", "not_a_point"),
        (6, "geometry", "not_a_point"),
    ]
    assert "Polygon" in errors[0]["message_en"] and errors[0]["message_zh"]
    assert _names("SF-GJ-") == set()
    _import(json.dumps({"type": "FeatureCollection", "features": features[:1]}).encode(), "points.geojson")
    assert _names("SF-GJ-") == {"SF-GJ-1"}


def test_like_wildcards_in_q_are_literal(client, admin_token) -> None:
    everything = client.get("/api/v1/resources", params={"city": "jiaxing"}).json()["total"]
    assert everything > 10
    for q in ("%", "_", "%%", "\\"):
        assert client.get("/api/v1/resources", params={"city": "jiaxing", "q": q}).json()["total"] == 0, q
    body = {"external_id": "SF-LIKE-1", "name": "【示例】满50%_减10", "category": "training"}
    body |= {"lon": 120.76, "lat": 30.75}
    made = client.post("/api/v1/admin/resources", json=body, headers={"Authorization": f"Bearer {admin_token}"})
    assert made.status_code == 201, made.text
    for q in ("%", "_", "50%_减"):
        page = client.get("/api/v1/resources", params={"city": "jiaxing", "q": q}).json()
        assert [item["external_id"] for item in page["items"]] == ["SF-LIKE-1"], q
    assert client.get("/api/v1/resources", params={"city": "jiaxing", "q": "5_%"}).json()["total"] == 0


# ---------------------------------------------------------------------------------------------- encodings
def _csv_text(rows: list[list], header: list[str] = HEADER, delimiter: str = ",") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


ZH_HEADER = ["编号", "名称", "类别", "经度", "纬度", "样例"]


@pytest.mark.parametrize(
    ("encoding", "header", "delimiter"),
    [
        ("utf-8", HEADER, ","),
        ("utf-8-sig", ZH_HEADER, ","),
        ("gbk", ZH_HEADER, ","),
        ("gb18030", ZH_HEADER, ","),
        ("utf-16", ZH_HEADER, "\t"),  # Excel's "Unicode text"
    ],
)
def test_csv_encodings_are_detected(database: str, encoding: str, header: list[str], delimiter: str) -> None:
    ext = f"SF-ENC-{encoding}"
    name = "【示例】嘉兴市南湖区职业技能培训中心（焊工、电工）"
    if encoding == "gb18030":
        name += " 㙟"  # a character outside GBK: GB18030 only
    data = _csv_text([_record(ext, name)], header=header, delimiter=delimiter).encode(encoding)
    rows = read_sheet(data, kind="resources", filename="s.csv")
    assert rows[0].cells["name"] == name
    report = _import(data, "s.csv")
    assert report.created + report.updated == 1
    assert report.encoding in {"utf-8", "utf-8-sig", "gb18030", "utf-16"}


def test_unclear_encoding_is_a_clear_422(database: str) -> None:
    japanese = _csv_text([["SF-ENC-SJ", "テスト研修センター", "training", 120.759, 30.754, "yes"]]).encode("shift_jis")
    for data in (japanese, bytes(range(128, 256)) * 40):
        with pytest.raises(ImportValidationError) as err:
            read_sheet(data, kind="resources", filename="s.csv")
        assert err.value.code == "unknown_encoding" and err.value.status == 422
        assert "UTF-8" in err.value.message_zh and "codec" not in err.value.message_en


# ---------------------------------------------------------------------------------------------- limits
def test_row_column_sheet_and_size_limits(database: str) -> None:
    many = _csv_text([_record(f"SF-L-{i}") for i in range(51)]).encode()
    with pytest.raises(PayloadTooLargeError) as err:
        read_sheet(many, kind="resources", filename="s.csv", limits=SMALL)
    assert err.value.status == 413 and err.value.code == "sheet_too_large" and err.value.details["limit"] == 50
    assert len(read_sheet(_csv_text([_record("SF-L-1")] * 50).encode(), kind="resources", limits=SMALL)) == 50
    wide = _xlsx([("s", [HEADER + [f"x{i}" for i in range(5)], _record("SF-L-W") + [1] * 5], "visible")])
    with pytest.raises(PayloadTooLargeError) as err:
        read_sheet(wide, kind="resources", filename="s.xlsx", limits=SMALL)
    assert err.value.code == "sheet_too_large" and "columns" in err.value.message_en
    # a stray value far to the right counts too
    stray = _xlsx([("s", [HEADER, _record("SF-L-S") + [None] * 30 + ["x"]], "visible")])
    with pytest.raises(PayloadTooLargeError):
        read_sheet(stray, kind="resources", filename="s.xlsx", limits=SMALL)
    sheets = _xlsx([(f"s{i}", [HEADER], "visible") for i in range(4)])
    with pytest.raises(PayloadTooLargeError) as err:
        read_sheet(sheets, kind="resources", filename="s.xlsx", limits=SMALL)
    assert "worksheets" in err.value.message_en and "工作表" in err.value.message_zh
    big = b"x" * (SMALL.max_bytes + 1)
    with pytest.raises(PayloadTooLargeError) as err:
        read_sheet(big, kind="resources", filename="s.csv", limits=SMALL)
    assert err.value.code == "payload_too_large"
    geo = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}] * 51}).encode()
    with pytest.raises(PayloadTooLargeError):
        read_sheet(geo, kind="resources", filename="s.geojson", limits=SMALL)


def test_cli_upload_size_limit_is_the_setting(tmp_path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(_csv_text([_record(f"SF-BIG-{i}") for i in range(3000)]), encoding="utf-8")
    assert path.stat().st_size > 0.1 * 1024 * 1024
    env = {**os.environ, "SKILLCIRCLE_MAX_UPLOAD_MB": "0.1"}
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "import", "jiaxing", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    assert "payload_too_large" in out.stdout + out.stderr and "0.1 MB" in out.stdout + out.stderr


def test_zip_bomb_is_refused_quickly_with_little_memory(tmp_path) -> None:
    """The issue's bomb (a 0.1 MB XLSX of 76 MB of cells): 413, measured in a fresh process under 200 MB.

    Before the fix this took minutes and gigabytes: the subprocess timeout is the failure then.
    """
    bomb = write_bomb(tmp_path / "bomb.xlsx")
    assert bomb.stat().st_size < 300_000
    result = read_in_fresh_process(bomb, timeout=60)
    assert result["status"] == 413 and result["code"] == "sheet_too_large", result
    assert result["peak_mb"] < 200, result
    honest = read_in_fresh_process(honest_xlsx(tmp_path / "honest.xlsx"))
    assert honest["status"] == 200 and honest["rows"] == 1000, honest


def test_zip_parts_past_the_unzipped_limit_are_refused_before_inflating(tmp_path) -> None:
    """Even at a modest ratio, the declared unzipped total is checked first (nothing is inflated)."""
    bomb = write_bomb(tmp_path / "b.xlsx", unzipped_mb=5)
    limits = SheetLimits(**{**SMALL.__dict__, "max_ratio": 10_000, "max_bytes": 10 * 1024**2})
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *a, **kw):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *a, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zipfile.ZipFile, "open", spy)
        with pytest.raises(PayloadTooLargeError) as err:
            read_sheet(bomb, kind="resources", limits=limits)
    assert "unzipped" in err.value.message_en and opened == []
