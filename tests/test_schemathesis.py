"""Schemathesis against the service's own /openapi.json: every operation, with generated valid
and invalid requests, answers without a 5xx and as its schema says (status code, content
type, headers, body)."""

import ipaddress
import itertools
import socket
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from app.config import Settings
from app.main import create_app

# The NDJSON import body is declared as a string: send it as the text it is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


def no_server_error(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """not_a_server_error, except the one 5xx that is right here: a URL to fetch whose host
    cannot be resolved (every public one, see `offline`) is the upstream's failure, a 502."""
    if response.status_code == 502:
        problem = response.json()
        if problem["type"] == "/problems/upstream-error" and "cannot resolve" in problem["detail"]:
            return True
    return not_a_server_error(ctx, response, case)


CHECKS = [
    no_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No traffic leaves 127.0.0.1: generated bodies include URLs to fetch (any host), and
    the fetcher, with its default policy, would resolve and fetch public ones. Here every
    name but a loopback address fails to resolve, as on a machine without a network, so those
    requests still run the whole fetch path and end in its "cannot resolve" 502 (loopback
    ones in its 400 refusal), and a connect to anything else is refused outright."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, "no network in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise OSError("no network in tests")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


# The document /openapi.json serves (test_the_schema_is_the_served_one checks it); it does not
# depend on the database, so no database is needed to read it at collection time.
DOCUMENT = create_app(Settings(database_url="sqlite://")).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
_requests = itertools.count()


def fresh_idempotency_key(case: schemathesis.Case) -> None:
    """Generated Idempotency-Keys repeat ("0" above all, in the coverage phase) with other
    bodies, so nearly every POST would end as the 422 for a reused key before reaching its
    route. A key of its own per request keeps the idempotency layer in the path, not in the
    way; an empty or malformed key stays so."""
    key = (case.headers or {}).get("Idempotency-Key")
    if case.headers is not None and isinstance(key, str) and key:
        case.headers["Idempotency-Key"] = f"{next(_requests)}-{key}"[:255]


@pytest.fixture
def app(db: Engine, settings: Settings, offline: None) -> FastAPI:
    """The app under test, one per operation. Rate limiting is off: hundreds of requests come
    from one address, and 429s would only stand in for the answers under test. Schemathesis
    starts the app's lifespan on the first request and ends it with the test."""
    return create_app(settings.model_copy(update={"rate_limit_per_minute": 0}))


@schema.parametrize()
@hypothesis.settings(
    max_examples=50,
    deadline=None,
    # Generated bodies are large by design (articles), some parameters are tightly
    # constrained (ids, enums), and one app serves all of an operation's examples.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, app: FastAPI) -> None:
    fresh_idempotency_key(case)
    case.call_and_validate(app=app, checks=CHECKS)


def test_the_schema_is_the_served_one(client: TestClient) -> None:
    assert client.get("/openapi.json").json() == DOCUMENT
