"""Imports as background jobs: an upload answers 202 with a job id at once, the import runs in a
separate process, ``/api/v1/admin/jobs/{id}`` reports progress and the row-numbered report from any
worker (the state is in the database), and ``/nearby`` keeps answering while a big sheet imports.
The CLI shows a progress bar.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from benchmarks.bench_jobs import resource_sheet
from tests._servers import PATIENCE_S, run_cli, uvicorn_server


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_unknown_job_and_no_token(client, admin_token: str) -> None:
    resp = client.get("/api/v1/admin/jobs/" + "0" * 32, headers=_auth(admin_token))
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "job_not_found"
    assert client.get("/api/v1/admin/jobs/nonsense", headers=_auth(admin_token)).status_code == 404
    assert client.get("/api/v1/admin/jobs/" + "0" * 32).status_code == 401


@pytest.mark.slow
def test_big_import_runs_off_the_request_threads_and_any_worker_reports_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    env = {"DATABASE_URL": url, "SKILLCIRCLE_VAR_DIR": str(tmp_path), "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0"}
    assert run_cli(env, "db", "upgrade").returncode == 0
    seed = tmp_path / "seed.csv"
    seed.write_bytes(resource_sheet(3, prefix="SEED"))
    assert run_cli(env, "import", "jiaxing", str(seed)).returncode == 0
    token = run_cli(env, "token", "create", "jobs-test").stdout.strip().splitlines()[-1]
    near = {"city": "jiaxing", "lat": 30.75, "lon": 120.75, "minutes": 30, "mode": "ebike", "limit": 5}
    rows = 10_000

    with uvicorn_server(env, workers=2) as base:
        # warm both workers (each loads its engine on its first /nearby) with fresh connections;
        # generous timeouts throughout: the machines are shared, and only answers are asserted here
        for _ in range(6):
            assert httpx.get(f"{base}/api/v1/nearby", params=near, timeout=180).status_code == 200
        accepted = httpx.post(
            f"{base}/api/v1/admin/import",
            headers=_auth(token),
            files={"file": ("big.csv", resource_sheet(rows), "text/csv")},
            timeout=180,
        )
        assert accepted.status_code == 202, accepted.text
        status_url = base + accepted.json()["status_url"]
        seen: list[dict] = []
        answered_while_running = 0
        deadline = time.monotonic() + max(600.0, PATIENCE_S)
        while True:
            with httpx.Client(timeout=180) as c:  # a new connection each time: either worker answers
                job = c.get(status_url, headers=_auth(token)).json()
                seen.append(job)
                if job["status"] in ("succeeded", "failed"):
                    break
                nearby = c.get(f"{base}/api/v1/nearby", params=near)
                assert nearby.status_code == 200
                if c.get(status_url, headers=_auth(token)).json()["status"] == "running" and job["status"] == "running":
                    answered_while_running += 1
            assert time.monotonic() < deadline, f"the job never ended: {job}"
            time.sleep(0.05)
        assert job["status"] == "succeeded", job
        assert {k: job["result"][k] for k in ("kind", "rows", "created", "updated")} == {
            "kind": "resources",
            "rows": rows,
            "created": rows,
            "updated": 0,
        }
        assert job["progress"]["done"] == job["progress"]["total"] == rows
        assert answered_while_running >= 1, "no /nearby answer while the import ran"
        phases = [s["progress"]["phase"] for s in seen]
        assert "checking" in phases or "writing" in phases, phases
        running = [s["progress"] for s in seen if s["status"] == "running" and s["progress"]["total"]]
        assert running and all(p["total"] == rows and 0 <= p["done"] <= rows for p in running), running
        # every worker re-indexes: the new resources are routed to
        deadline = time.monotonic() + PATIENCE_S
        while httpx.get(f"{base}/api/v1/resources", params={"city": "jiaxing", "page_size": 1}).json()["total"] < rows:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        names = [
            i["resource"]["name"] for i in httpx.get(f"{base}/api/v1/nearby", params=near, timeout=180).json()["items"]
        ]
        assert any(n.startswith("【示例】基准机构") for n in names), names


def test_cli_import_shows_a_progress_bar(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"DATABASE_URL": url, "SKILLCIRCLE_VAR_DIR": str(tmp_path)}
    sheet = tmp_path / "r.csv"
    sheet.write_bytes(resource_sheet(1200, prefix="BAR"))
    done = run_cli(env, "import", "jiaxing", str(sheet))
    assert done.returncode == 0, done.stderr
    assert '"created": 1200' in done.stdout
    assert "checking" in done.stderr and "writing" in done.stderr
    assert "1200/1200" in done.stderr
