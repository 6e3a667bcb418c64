"""Property-based fuzz of the whole OpenAPI schema with schemathesis: no input may cause a 5xx.

Every operation of ``/api/v1/openapi.json`` gets schemathesis-generated requests (valid and
invalid by the schema), sent in-process through ASGI; each must answer below 500, and every JSON
error must carry a stable code and a Chinese and an English message.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings


def test_no_server_errors(client, demo_network) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    seen: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        def check(case) -> None:  # noqa: ANN001
            response = case.call()
            where = f"{case.method} {case.formatted_path} {case.query}"
            assert response.status_code < 500, f"{where}: {response.text[:300]}"
            if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
                error = response.json()["error"]
                assert error["code"] and error["message_zh"] and error["message_en"], where

        check()
        seen.append(operation.label)
    assert len(seen) == len(operations)
