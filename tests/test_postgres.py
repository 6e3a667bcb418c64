"""The ``DATABASE_URL`` path against the real PostgreSQL server of these machines.

The URL comes from ``SKILLCIRCLE_TEST_DATABASE_URL`` (``.ci/run`` sets it). Each run works in a fresh
schema that is dropped afterwards. Without a reachable server the tests skip — except under CI
(``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from geo.db import head_revision
from tests._servers import PATIENCE_S

pytestmark = pytest.mark.postgres
URL = os.environ.get("SKILLCIRCLE_TEST_DATABASE_URL", "")
ROOT = Path(__file__).resolve().parent.parent


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL whose search_path is a fresh schema of the test database."""
    if not URL:
        _unavailable("SKILLCIRCLE_TEST_DATABASE_URL is not set")
    schema = f"sc_test_{secrets.token_hex(4)}"
    try:
        admin = create_engine(URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        _unavailable(f"PostgreSQL unreachable at {URL}: {exc}")
    sep = "&" if "?" in URL else "?"
    yield f"{URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


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
    finally:
        server.terminate()
        server.wait(timeout=20)
