"""Every integer a client can send is bounded: out of range is a 422 naming the field, never a 500.

``?offset=32589158477190044731`` from a bank token once overflowed the database driver (500).
The routes are walked from the application itself — query, path and form parameters of every
route, pages included — so a route added later is covered without touching this test.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from kejin.api import create_app, route_table
from kejin.db import make_engine

from .conftest import bearer, login
from .world import F1

#: Values for the other path parameters, so that the integer under test is the only bad input.
FILL = {"uscc": F1, "institution_id": "BKA"}

#: The value a bank token sent; beyond int64 as well as int32.
HUGE = 32589158477190044731


def _is_int(annotation: object) -> bool:
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return int in typing.get_args(annotation) and bool not in typing.get_args(annotation)
    return False


def _params(dependant: Any) -> list[tuple[str, Any]]:
    """(where, field) of a route and every dependency it has."""
    out = [("path", f) for f in dependant.path_params]
    out += [("query", f) for f in dependant.query_params]
    out += [("form", f) for f in dependant.body_params]
    for sub in dependant.dependencies:
        out += _params(sub)
    return out


def _cases() -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) for every integer parameter of every route."""
    app = create_app(make_engine("sqlite://"), session_key="collect")
    cases = []
    for method, _path, route in route_table(app):
        if not isinstance(route, APIRoute):
            continue
        for where, f in _params(route.dependant):
            if _is_int(f.field_info.annotation):
                cases.append((method, route.path, where, f.alias))
    return sorted(set(cases))


CASES = _cases()


def test_the_walk_finds_the_parameters_that_once_failed() -> None:
    assert ("GET", "/api/whitelist/pushed/{institution_id}", "query", "offset") in CASES
    assert {w for *_, w, _n in CASES} >= {"path", "query"}


def _request(route: APIRoute, where: str, name: str) -> dict[str, Any]:
    path, params, data = route.path, {}, {}
    for w, f in _params(route.dependant):
        value: object = HUGE if (w, f.alias) == (where, name) else None
        if value is None and not f.field_info.is_required():
            continue
        if value is None:
            value = 1 if _is_int(f.field_info.annotation) else FILL.get(f.alias, "x")
        if w == "path":
            path = path.replace("{" + f.alias + "}", str(value))
        elif w == "query":
            params[f.alias] = str(value)
        else:
            data[f.alias] = str(value)
    return {"url": path, "params": params, "data": data or None}


@pytest.mark.parametrize(("method", "path", "where", "name"), CASES)
def test_a_huge_integer_is_refused_not_a_server_error(
    app, world, method: str, path: str, where: str, name: str
) -> None:  # type: ignore[no-untyped-def]
    route = next(r for m, p, r in route_table(app) if (m, p) == (method, path))
    req = _request(route, where, name)
    clients: dict[str, TestClient] = {
        u: login(app, u) for u in ("gov", "rev", "aud", "bank", "ent")
    }
    clients["token"] = bearer(app, world.secrets["t1"])
    codes = {}
    for who, c in clients.items():
        r = c.request(method, follow_redirects=False, **req)
        assert r.status_code < 500, f"{who}: {method} {req} -> {r.status_code} {r.text[:300]}"
        codes[who] = r.status_code
        if r.status_code == 422 and r.headers["content-type"].startswith("application/json"):
            fields = [p["field"] for p in r.json()["problems"]]
            assert name in fields, (who, fields)
    # Nobody is served with it: refused as out of range (422), or by the gate or as missing.
    assert set(codes.values()) <= {401, 403, 404, 422}, codes
