"""Property-based fuzz of the whole OpenAPI schema with schemathesis: no input may cause a 5xx, and
every answer conforms to the schema (documented status code, content type and body).

Every operation of ``/api/v1/openapi.json`` gets schemathesis-generated requests (valid and invalid
by the schema), sent in-process through ASGI; each must answer below 500, and every JSON error must
carry a stable code and a Chinese and an English message. The public operations are fuzzed as an
anonymous client; the write side is fuzzed a second time with an admin token, so generated bodies
reach the handlers. With the token the fuzz can delete and replace sample rows too, so the database is
snapshotted first and restored exactly afterwards, and the app's in-memory index follows
(``tests/_db_snapshot.py``): other test modules of this worker count the sample.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from tests._db_snapshot import restore_snapshot, take_snapshot
from tests._servers import PATIENCE_S

_CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(operation, *, headers: dict[str, str], examples: int) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def check(case) -> None:
        # A generous read timeout: the machines are shared, and a slow answer is not a failure here.
        response = case.call(headers=headers, timeout=PATIENCE_S)
        where = f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:200]}"
        assert response.status_code < 500, f"{where}: {response.text[:300]}"
        # the answer is what the OpenAPI document promises: a documented status code and content
        # type, and a body that fits the documented schema
        case.validate_response(response, checks=_CONFORMANCE)
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            error = response.json()["error"]
            assert error["code"] and error["message_zh"] and error["message_en"], where

    check()


def test_no_server_errors(client, demo_network, admin_token: str) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    writes = [op for op in operations if op.path.startswith("/api/v1/admin")]
    assert len(writes) >= 10
    before = take_snapshot()
    try:
        for operation in operations:
            _fuzz(operation, headers={}, examples=25)
        auth = {"Authorization": f"Bearer {admin_token}"}
        for operation in writes:
            _fuzz(operation, headers=auth, examples=15)
    finally:
        restore_snapshot(before)
    assert take_snapshot() == before
