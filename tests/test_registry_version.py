"""The registry version: bumped in the same transaction as every write (API, CLI, import, jobs), so
every worker re-indexes after any change, even an import that keeps its sheet's ``updated_at``.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from geo.cities import load_city
from geo.db import session_scope, upgrade
from geo.importer import import_sheet
from geo.models import Resource
from geo.versions import read_version
from tests._servers import PATIENCE_S, run_cli, uvicorn_server

SHEET = "external_id,name,category,lon,lat,updated_at\nRV-1,【示例】{name},training,120.7555,30.7536,2026-01-01\n"


def test_every_committed_write_bumps_the_version_and_a_rollback_does_not(database: str) -> None:
    city = load_city("jiaxing")
    with session_scope() as s:
        start = read_version(s, "jiaxing")
    with session_scope() as s:
        import_sheet(s, city, SHEET.format(name="一").encode(), kind="resources", filename="r.csv")
    with session_scope() as s:
        assert read_version(s, "jiaxing") == start + 1
        res = s.scalar(select(Resource).where(Resource.external_id == "RV-1"))
        res.name = "【示例】改名"
    with session_scope() as s:
        assert read_version(s, "jiaxing") == start + 2
    with pytest.raises(RuntimeError), session_scope() as s:
        s.scalar(select(Resource).where(Resource.external_id == "RV-1")).name = "【示例】不会保存"
        s.flush()
        raise RuntimeError("abort")
    with session_scope() as s:
        assert read_version(s, "jiaxing") == start + 2  # rolled back with the write
        s.delete(s.scalar(select(Resource).where(Resource.external_id == "RV-1")))
    with session_scope() as s:
        assert read_version(s, "jiaxing") == start + 3
        assert read_version(s, "demo") >= 0


def _names_near(base: str) -> list[str]:
    params = {"city": "jiaxing", "lat": 30.7536, "lon": 120.7555, "minutes": 5, "mode": "walk"}
    resp = httpx.get(f"{base}/api/v1/nearby", params=params, timeout=60)
    assert resp.status_code == 200, resp.text
    return [i["resource"]["name"] for i in resp.json()["items"]]


@pytest.mark.slow
def test_a_running_server_sees_a_cli_import_that_keeps_updated_at(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rv.db'}"
    env = {"DATABASE_URL": url, "SKILLCIRCLE_VAR_DIR": str(tmp_path), "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0"}
    upgrade(url)
    sheet = tmp_path / "resources.csv"
    sheet.write_text(SHEET.format(name="旧名"), encoding="utf-8")
    assert run_cli(env, "import", "jiaxing", str(sheet)).returncode == 0
    with uvicorn_server(env) as base:
        assert _names_near(base) == ["【示例】旧名"]
        # another process rewrites the row: same count, same largest id, same updated_at
        sheet.write_text(SHEET.format(name="新名"), encoding="utf-8")
        done = run_cli(env, "import", "jiaxing", str(sheet))
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + PATIENCE_S
        while _names_near(base) != ["【示例】新名"]:
            assert time.monotonic() < deadline, "the server never re-indexed"
            time.sleep(0.25)
