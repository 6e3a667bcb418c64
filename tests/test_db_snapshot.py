"""The database snapshot the fuzz test restores (``tests/_db_snapshot.py``) undoes what a fuzzer with
an admin token can do: a sample resource deleted, another replaced, rows added, a skill code created
and scanned. After the restore every table holds exactly its rows from before, the registry version
moved on, and the running app answers from the restored registry (counts, records and routes)."""

from __future__ import annotations

import pytest

from geo.cities import load_city
from geo.db import session_scope
from geo.versions import read_version
from tests._db_snapshot import restore_snapshot, take_snapshot

DEMO = load_city("demo")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _view(client) -> dict:
    """What the app answers about the demo registry: the total, the routed ids and every record."""
    lat, lon = DEMO.center
    near = {"city": "demo", "lat": lat, "lon": lon, "mode": "walk", "minutes": 30}
    body = client.get("/api/v1/nearby", params=near).json()
    listing = client.get("/api/v1/resources", params={"city": "demo", "page_size": 200}).json()
    ids = sorted(f["id"] if "id" in f else f["properties"]["id"] for f in listing["items"])
    return {
        "total": listing["total"],
        "nearby": [(i["resource"]["id"], i["minutes"]) for i in body["items"]],
        "records": {i: client.get(f"/api/v1/resources/{i}", params={"city": "demo"}).json() for i in ids},
    }


@pytest.fixture()
def routed(client, demo_network):
    """The client once the demo network is built (``/nearby`` routes)."""
    return client


def test_restore_undoes_fuzz_like_writes_in_the_database_and_the_running_app(routed, admin_token: str) -> None:
    client, h = routed, _auth(admin_token)
    before, seen = take_snapshot(), _view(routed)
    assert seen["total"] >= 3 and len(seen["nearby"]) >= 2
    with session_scope() as s:
        version = read_version(s, "demo")
    victim, edited = seen["nearby"][0][0], seen["nearby"][1][0]
    lat, lon = DEMO.center

    # what the fuzz's admin-token pass can do to rows it did not create
    assert client.delete(f"/api/v1/admin/resources/{victim}", params={"city": "demo"}, headers=h).status_code == 204
    fuzzed = {"external_id": "0", "name": "0", "category": "studio", "lon": lon, "lat": lat, "is_sample": True}
    r = client.put(f"/api/v1/admin/resources/{edited}", params={"city": "demo"}, json=fuzzed, headers=h)
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/admin/resources", params={"city": "demo"}, json={**fuzzed, "external_id": "1"}, headers=h)
    assert r.status_code == 201, r.text
    code = client.post("/api/v1/admin/skill-codes", json={"city": "demo", "target_type": "city"}, headers=h)
    assert code.status_code == 201, code.text
    assert client.get(f"/s/{code.json()['code']}").status_code == 200  # a scan counted

    changed = take_snapshot()
    assert changed != before
    for table in ("resources", "skill_codes", "scan_counts", "audit_log"):
        assert changed.rows[table] != before.rows[table], table
    during = _view(client)
    assert victim not in [i for i, _ in during["nearby"]] and during["records"][edited]["name"] == "0"

    restore_snapshot(before)

    assert take_snapshot() == before  # every table, row for row, ids and columns
    with session_scope() as s:
        assert read_version(s, "demo") > version  # the restore is a write: caches keyed on it miss
    assert _view(client) == seen  # and the running app's index and engine follow at once
