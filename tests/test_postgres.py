"""The ``DATABASE_URL`` path against the real PostgreSQL server of these machines.

The URL comes from ``SKILLCIRCLE_TEST_DATABASE_URL`` (``.ci/run`` sets it). Each run works in a fresh
database that is dropped afterwards (see ``tests/_postgres.py``). Without a reachable server the tests
skip — except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from geo.db import head_revision
from tests._postgres import fresh_database
from tests._servers import PATIENCE_S

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pg_url() -> str:
    """The URL of a fresh database on the test server (dropped afterwards)."""
    with fresh_database() as url:
        yield url


def _cli(url: str, var: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "SKILLCIRCLE_VAR_DIR": str(var)}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_and_api_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    up = _cli(pg_url, tmp_path, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"revision {head_revision()}" in up.stdout
    sample = _cli(pg_url, tmp_path, "sample", "jiaxing", "--out", str(tmp_path / "sheets"))
    assert sample.returncode == 0, sample.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "external_id,name,category,lon,lat\nPG-1,【示例】好,training,120.76,30.75\nPG-2,坏,???,120.76,30.75\n"
    )
    rejected = _cli(pg_url, tmp_path, "import", "jiaxing", str(bad))
    assert rejected.returncode == 2
    assert "row 3, column category" in rejected.stderr

    engine = create_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM resources WHERE city = 'jiaxing'")).scalar() == 442
        assert conn.execute(text("SELECT count(*) FROM resources WHERE external_id = 'PG-1'")).scalar() == 0
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
    engine.dispose()

    # re-importing the same sheets updates rows instead of duplicating them
    again = _cli(pg_url, tmp_path, "import", "jiaxing", str(tmp_path / "sheets" / "resources.csv"))
    assert again.returncode == 0, again.stderr
    assert '"created": 0' in again.stdout and '"updated": 442' in again.stdout

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": pg_url, "SKILLCIRCLE_VAR_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + PATIENCE_S  # a hang guard, not a speed claim
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        assert health["database"] == {"dialect": "postgresql", "revision": head_revision()}
        body = httpx.get(f"{base}/api/v1/resources", params={"category": "studio", "page_size": 1}, timeout=10).json()
        assert body["total"] == 189
        # located-in filters answer from PostGIS: the sample's declared district is its polygon's
        for district in ("南湖区", "海宁市"):
            declared = httpx.get(f"{base}/api/v1/resources", params={"district": district}, timeout=10).json()
            located = httpx.get(f"{base}/api/v1/resources", params={"in_district": district}, timeout=10).json()
            assert located["total"] == declared["total"] > 0
        boxed = httpx.get(f"{base}/api/v1/resources", params={"bbox": "120.70,30.70,120.80,30.80"}, timeout=10)
        assert 0 < boxed.json()["total"] < 442
        assert all(120.70 <= r["lon"] <= 120.80 and 30.70 <= r["lat"] <= 30.80 for r in boxed.json()["items"])
        bad = httpx.get(f"{base}/api/v1/resources", params={"bbox": "121,31,120,30"}, timeout=10)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_bbox"
    finally:
        server.terminate()
        server.wait(timeout=20)
