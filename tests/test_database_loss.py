"""Losing the database: every database route answers 503 ``database_unavailable`` with Retry-After,
``/healthz`` names the dependency that is down, ``/livez`` still answers, and ``/nearby`` keeps
answering from memory. Driven against a real PostgreSQL database that the test creates, fills
through the CLI, serves with uvicorn, and then drops while the server runs.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests._servers import run_cli, uvicorn_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
URL = os.environ.get("SKILLCIRCLE_TEST_DATABASE_URL", "")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def throwaway_database() -> tuple[str, object]:
    """A fresh PostgreSQL database (URL, admin engine); dropped at the end if the test did not."""
    if not URL:
        _unavailable("SKILLCIRCLE_TEST_DATABASE_URL is not set")
    name = f"sc_loss_{secrets.token_hex(4)}"
    try:
        admin = create_engine(URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any connection problem means "no server"
        _unavailable(f"PostgreSQL unreachable at {URL}: {exc}")
    url = make_url(URL).set(database=name).render_as_string(hide_password=False)
    yield url, admin
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _drop(admin, url: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)'))


def _unavailable_answer(resp: httpx.Response) -> None:
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["Retry-After"]) > 0
    error = resp.json()["error"]
    assert error["code"] == "database_unavailable"
    assert error["message_zh"] and error["message_en"]


def test_routes_answer_503_and_nearby_answers_from_memory(throwaway_database, tmp_path: Path) -> None:
    url, admin = throwaway_database
    env = {"DATABASE_URL": url, "SKILLCIRCLE_VAR_DIR": str(tmp_path), "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0"}
    sample = run_cli(env, "sample", "jiaxing", "--out", str(tmp_path / "sheets"))
    assert sample.returncode == 0, sample.stderr
    token = run_cli(env, "token", "create", "loss-test", "--scope", "admin").stdout.strip().splitlines()[-1]
    near = {"lat": 30.7536, "lon": 120.7555, "mode": "ebike", "minutes": 30, "city": "jiaxing"}

    with uvicorn_server(env) as base:
        before = httpx.get(f"{base}/api/v1/nearby", params=near, timeout=60)
        assert before.status_code == 200, before.text
        assert before.json()["count"] > 0
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200

        _drop(admin, url)

        # /nearby keeps answering from the index in memory, with the same answer
        for _ in range(3):
            after = httpx.get(f"{base}/api/v1/nearby", params=near, timeout=30)
            assert after.status_code == 200, after.text
            assert [i["resource"]["id"] for i in after.json()["items"]] == [
                i["resource"]["id"] for i in before.json()["items"]
            ]

        health = httpx.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 503
        assert int(health.headers["Retry-After"]) > 0
        assert health.json()["status"] == "degraded"
        assert health.json()["down"] == ["database"]
        assert health.json()["dependencies"]["database"]["ok"] is False
        assert httpx.get(f"{base}/livez", timeout=30).json() == {"status": "alive"}

        auth = {"Authorization": f"Bearer {token}"}
        _unavailable_answer(httpx.get(f"{base}/api/v1/resources", params={"city": "jiaxing"}, timeout=30))
        _unavailable_answer(httpx.get(f"{base}/api/v1/resources/1", timeout=30))
        _unavailable_answer(httpx.get(f"{base}/api/v1/classes", timeout=30))
        _unavailable_answer(httpx.get(f"{base}/api/v1/evaluations", timeout=30))
        _unavailable_answer(httpx.get(f"{base}/api/v1/admin/audit", headers=auth, timeout=30))
        _unavailable_answer(
            httpx.post(
                f"{base}/api/v1/admin/import",
                headers=auth,
                files={"file": ("r.csv", b"external_id,name,category,lon,lat\n", "text/csv")},
                timeout=30,
            )
        )
        # a page answers JSON to a client that does not ask for HTML (browsers get a page: test_page_errors.py)
        _unavailable_answer(httpx.get(f"{base}/s/ABCDEFGH", headers={"Accept": "application/json"}, timeout=30))
        # nothing answers 500, whatever the route
        for path in ("/", "/map", "/api/v1/skills", "/api/v1/coverage", "/api/v1/codes/ABCDEFGH", "/metrics"):
            assert httpx.get(f"{base}{path}", timeout=60).status_code != 500, path
