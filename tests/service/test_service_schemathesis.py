"""Property-based fuzzing of every operation in the OpenAPI schema: no input may cause a 5xx.

The schema is the application's own (built at collection time); each generated request is sent
to the test's app, backed by SQLite or PostgreSQL, twice: as a government administrator
(session cookie + CSRF header) and as a bank system (bearer token), so the fuzzing reaches past
the permission gate. Bounded: a dozen examples per operation.
"""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from kejin.api import create_app
from kejin.db import make_engine

from .conftest import bearer, login

schema = schemathesis.openapi.from_dict(
    create_app(make_engine("sqlite://"), session_key="collect").openapi()
)


def _send(client: TestClient, case) -> None:  # type: ignore[no-untyped-def]
    kw = case.as_transport_kwargs(base_url="http://testserver")
    kw.pop("cookies", None)
    headers = {
        k: v
        for k, v in (kw.pop("headers", None) or {}).items()
        if k.lower() not in ("authorization", "cookie", "x-csrf-token")
    }
    r = client.request(headers=headers, follow_redirects=False, **kw)
    assert r.status_code < 500, (
        f"{case.method} {case.formatted_path} {kw.get('params')} -> {r.status_code} {r.text[:300]}"
    )
    assert "Traceback" not in r.text


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_input_causes_a_server_error(case, app, world) -> None:  # type: ignore[no-untyped-def]
    _send(login(app, "gov"), case)
    _send(bearer(app, world.secrets["t3"]), case)
