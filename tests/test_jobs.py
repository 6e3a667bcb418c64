"""Imports as background jobs: an upload answers 202 with a job id at once, the import runs in a
separate process, ``/api/v1/admin/jobs/{id}`` reports progress and the row-numbered report from any
worker (the state is in the database), and ``/nearby`` keeps answering while a big sheet imports.
The CLI shows a progress bar.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from benchmarks.bench_jobs import resource_sheet
from tests import _job_gate
from tests._postgres import fresh_database
from tests._servers import PATIENCE_S, run_cli, uvicorn_process, uvicorn_server


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


# -- jobs whose runner died ------------------------------------------------------------------------


def _job(job_id: str, *, status: str = "running", runner: str | None, age_s: float | None, created_age_s: float = 0):
    from datetime import UTC, datetime, timedelta

    from geo.models import Job

    now = datetime.now(UTC)
    return Job(
        id=job_id,
        kind="import:resources",
        city="jiaxing",
        actor="test",
        status=status,
        phase="checking" if status == "running" else status,
        done=0,
        params={"kind": "resources", "crs": "wgs84", "filename": "t.csv", "path": "", "bytes": 0},
        created_at=now - timedelta(seconds=created_age_s),
        runner=runner,
        heartbeat_at=None if age_s is None else now - timedelta(seconds=age_s),
    )


def _ended_process_runner() -> str:
    """The runner id of a process of this machine that has ended."""
    import socket
    import subprocess

    from geo.jobs import _host_key, _process_start

    proc = subprocess.Popen(["sleep", "60"])
    runner = f"{socket.gethostname()}/{proc.pid}/{_process_start(proc.pid)}/{_host_key()}"
    proc.kill()
    proc.wait()
    return runner


def test_which_runners_are_known_alive_on_this_machine() -> None:
    from geo.jobs import _host_key, runner_alive_here, runner_id

    if not _host_key():
        pytest.skip("no /proc here: only heartbeats decide")
    me = runner_id()
    assert runner_alive_here(me) is True
    host, pid, start, key = me.split("/")
    assert runner_alive_here(f"{host}/{pid}/{int(start) + 1}/{key}") is False  # the pid, reused by another
    assert runner_alive_here(_ended_process_runner()) is False
    assert runner_alive_here(f"{host}/{pid}/{start}/another-host") is None  # only its heartbeat can tell
    assert runner_alive_here(None) is None and runner_alive_here("garbage") is None


def test_jobs_without_a_heartbeat_end_interrupted_and_live_ones_are_kept(database: str) -> None:
    """The sweep every server runs: stale jobs of dead runners end ``job_interrupted``, once; a job with
    a fresh heartbeat (from any host), one whose runner is alive here, and an ended job are kept."""
    from geo.db import session_scope
    from geo.jobs import fail_interrupted_jobs, runner_id
    from geo.models import Job

    far = "web9/4242/123/another-host"  # a runner on another machine: judged by its heartbeat alone
    rows = {
        "a1" * 16: _job("a1" * 16, runner=far, age_s=3600),  # another host's, silent for an hour
        "a2" * 16: _job("a2" * 16, status="queued", runner=_ended_process_runner(), age_s=3600),
        "a3" * 16: _job("a3" * 16, runner=None, age_s=None, created_age_s=3600),  # from before heartbeats
        "b1" * 16: _job("b1" * 16, runner=far, age_s=1),  # another host's, beating
        "b2" * 16: _job("b2" * 16, runner=runner_id(), age_s=3600),  # alive here: SQLite's lock held its beat
        "b3" * 16: _job("b3" * 16, status="succeeded", runner=far, age_s=3600),
    }
    with session_scope() as s:
        s.add_all(rows.values())
    with session_scope() as s:
        ended = fail_interrupted_jobs(s)
    with session_scope() as s:
        again = fail_interrupted_jobs(s)
        jobs = {j.id: j for j in s.query(Job).filter(Job.id.in_(rows))}
        for j in jobs.values():
            s.delete(j)
    assert set(ended) <= {"a1" * 16, "a2" * 16, "a3" * 16} and not set(again) & set(rows)
    for key in ("a1", "a2", "a3"):
        job = jobs[key * 16]
        assert job.status == "failed" and job.finished_at is not None
        assert job.error["code"] == "job_interrupted", job.error
        assert "upload it again" in job.error["message_en"] and "请重新上传" in job.error["message_zh"]
        assert job.error["details"]["reason"] == "no_heartbeat"
    assert jobs["a1" * 16].error["details"]["runner"] == "web9/4242"
    assert jobs["a2" * 16].error["details"]["status"] == "queued"
    assert [jobs[k * 16].status for k in ("b1", "b2", "b3")] == ["running", "running", "succeeded"]


def test_a_job_declared_dead_while_it_runs_rolls_its_import_back(
    database: str, jiaxing_sample: Path, monkeypatch
) -> None:
    """If a runner that was declared dead turns out alive, its job stays ``job_interrupted`` and its rows
    are not committed: one verdict per job, and it is the true one."""
    import geo.importer
    from geo.db import session_scope
    from geo.jobs import create_import_job, fail_job, interrupted_error, run_import_job
    from geo.models import Job, Resource

    with session_scope() as s:
        job = create_import_job(
            s,
            city="jiaxing",
            kind="resources",
            crs="wgs84",
            filename="z.csv",
            data=resource_sheet(50, prefix="ZOMBIE"),
            actor="t",
        )
        job_id = job.id
    original = geo.importer.import_sheet

    def declared_dead_before_saving(*args, **kwargs):
        progress = kwargs["progress"]

        def spy(phase: str, done: int, total: int) -> None:
            progress(phase, done, total)
            if phase == "saving":  # another server gives up on it now, just before its rows are written
                with session_scope() as s:
                    assert fail_job(s, job_id, interrupted_error("no_heartbeat"))

        return original(*args, **{**kwargs, "progress": spy})

    monkeypatch.setattr(geo.importer, "import_sheet", declared_dead_before_saving)
    assert run_import_job(job_id) == "failed"
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and job.error["code"] == "job_interrupted"
        assert s.query(Resource).filter(Resource.external_id.like("ZOMBIE-%")).count() == 0
        s.delete(job)


def test_a_job_interrupted_while_queued_is_not_run(database: str) -> None:
    from geo.db import session_scope
    from geo.jobs import create_import_job, fail_job, interrupted_error, run_import_job
    from geo.models import Job

    with session_scope() as s:
        job = create_import_job(
            s, city="jiaxing", kind="resources", crs="wgs84", filename="q.csv", data=b"x", actor="t"
        )
        job_id = job.id
        assert job.runner and job.heartbeat_at is not None
    with session_scope() as s:
        assert fail_job(s, job_id, interrupted_error("no_heartbeat"))
        assert not fail_job(s, job_id, interrupted_error("job_process_died"))  # ended once
    assert run_import_job(job_id) == "failed"
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job.status == "failed" and job.started_at is None and job.error["details"]["reason"] == "no_heartbeat"
        s.delete(job)


@contextmanager
def _database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        with fresh_database(prefix="sc_jobs") as url:
            yield url


def _process_gone(pid: int) -> bool:
    from geo.jobs import _process_start

    return _process_start(pid) is None


def _wait_for(what: str, ready, *, every_s: float = 0.1):
    """Poll ``ready()`` until it returns something truthy (a guard against hangs, not a speed check)."""
    deadline = time.monotonic() + PATIENCE_S
    while not (value := ready()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(every_s)
    return value


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_job_whose_server_died_is_reported_interrupted_and_a_live_one_is_not(backend: str, tmp_path: Path) -> None:
    """As an institution meets it: an upload is importing when its server is killed (``kill -9`` of the
    server and its job process, as a reboot or systemd's stop does), holding every row written but not
    committed. Servers started afterwards on the same database (as on other hosts: heartbeats alone
    decide) report the job ``failed``/``job_interrupted``, once its heartbeat is older than the limit,
    and no row of it is in the registry. A job of another server that is alive throughout is never
    failed, by its own server or one started meanwhile; when only its server is killed, its job process
    finishes the job and exits."""
    from sqlalchemy import create_engine, text

    limit = 10
    with _database(backend, tmp_path) as url:
        env = {
            "DATABASE_URL": url,
            "SKILLCIRCLE_VAR_DIR": str(tmp_path),
            "SKILLCIRCLE_RATE_LIMIT_PER_MINUTE": "0",
            "SKILLCIRCLE_JOB_INTERRUPTED_AFTER_S": str(limit),
        }
        assert run_cli(env, "db", "upgrade").returncode == 0
        token = run_cli(env, "token", "create", "jobs-test").stdout.strip().splitlines()[-1]
        engine = create_engine(url)

        def rows(prefix: str) -> int:
            with engine.connect() as conn:
                return conn.execute(
                    text("SELECT count(*) FROM resources WHERE external_id LIKE :p"), {"p": f"{prefix}-%"}
                ).scalar_one()

        site = tmp_path / "site"
        site.mkdir()
        shutil.copy(Path(_job_gate.__file__), site / "sitecustomize.py")
        path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
        gate_a, gate_b = tmp_path / "gate-a", tmp_path / "gate-b"
        # three servers as on three hosts: each judges the others' jobs by their heartbeats alone
        env_a = env | {
            "PYTHONPATH": path,
            _job_gate.HOST: "a",
            _job_gate.GATE: str(gate_a),
            _job_gate.GATE_AT: "flushed",
        }
        env_b = env | {
            "PYTHONPATH": path,
            _job_gate.HOST: "b",
            _job_gate.GATE: str(gate_b),
            _job_gate.GATE_AT: "checking",
        }
        env_c = env | {"PYTHONPATH": path, _job_gate.HOST: "c"}

        def upload(base: str, prefix: str) -> str:
            sheet = resource_sheet(200, prefix=prefix)
            resp = httpx.post(
                f"{base}/api/v1/admin/import",
                headers=_auth(token),
                files={"file": (f"{prefix}.csv", sheet, "text/csv")},
                timeout=180,
            )
            assert resp.status_code == 202, resp.text
            return resp.json()["job_id"]

        def job(base: str, job_id: str) -> dict:
            resp = httpx.get(f"{base}/api/v1/admin/jobs/{job_id}", headers=_auth(token), timeout=180)
            assert resp.status_code == 200, resp.text
            return resp.json()

        # server A: its job is killed with every row flushed into the open transaction
        with uvicorn_process(env_a) as (base_a, server_a):
            dead = upload(base_a, "DEAD")
            _wait_for("job A to hold its written rows", (gate_a / "paused").exists)
            job_process_a = int((gate_a / "paused").read_text())
            state = job(base_a, dead)
            assert state["status"] == "running" and state["progress"]["phase"] == "saving", state
            os.killpg(server_a.pid, signal.SIGKILL)
            server_a.wait()
            _wait_for("job A's process to die", lambda: _process_gone(job_process_a))
        assert rows("DEAD") == 0

        # server B: its job is alive (held before its rows are checked, heartbeats going)
        with uvicorn_process(env_b) as (base_b, server_b):
            live = upload(base_b, "LIVE")
            _wait_for("job B to start", (gate_b / "paused").exists)
            job_process_b = int((gate_b / "paused").read_text())
            # server C starts now, on the same database, and judges both jobs by their heartbeats
            with uvicorn_process(env_c) as (base_c, _server_c):
                ended = _wait_for(
                    "job A to be reported failed", lambda: (j := job(base_c, dead))["status"] == "failed" and j
                )
                error = ended["error"]
                assert error["code"] == "job_interrupted", ended
                assert "upload it again" in error["message_en"] and "请重新上传" in error["message_zh"]
                assert error["details"]["reason"] == "no_heartbeat" and error["details"]["status"] == "running"
                assert error["details"]["phase"] == "saving" and error["details"]["limit_s"] == limit
                silent = datetime.fromisoformat(ended["finished_at"]) - datetime.fromisoformat(
                    error["details"]["last_heartbeat_at"]
                )
                assert silent.total_seconds() >= limit, "ended before its heartbeat was older than the limit"
                assert ended["finished_at"] and job(base_b, dead)["status"] == "failed"
                assert not list((tmp_path / "jobs").glob(f"{dead}*")), "the dead job's upload was kept"
                assert rows("DEAD") == 0

                # job B outlives the limit half again, asked from both servers (each also sweeps every
                # limit/6 s): it is never failed
                until = time.monotonic() + 1.5 * limit
                while time.monotonic() < until:
                    for base in (base_b, base_c):
                        assert job(base, live)["status"] == "running"
                    time.sleep(0.5)
                listed = httpx.get(f"{base_c}/api/v1/admin/jobs", headers=_auth(token), timeout=180).json()
                assert {j["id"]: j["status"] for j in listed} == {dead: "failed", live: "running"}

                # server B alone is killed: its job process finishes the job, then exits
                os.kill(server_b.pid, signal.SIGKILL)
                server_b.wait()
                (gate_b / "release").touch()
                done = _wait_for("job B to end", lambda: (j := job(base_c, live))["status"] != "running" and j)
                assert done["status"] == "succeeded", done
                assert done["result"]["created"] == 200
                _wait_for("job B's process to exit", lambda: _process_gone(job_process_b))
        assert rows("LIVE") == 200 and rows("DEAD") == 0
        engine.dispose()
