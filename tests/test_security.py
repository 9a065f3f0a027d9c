"""API keys and scopes, open mode and its loopback rule, public reads, rate limits, the keys
CLI, and what the OpenAPI schema says about all of it."""

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

import app.cli
from app.api.middleware import auth
from app.config import Settings
from app.main import create_app
from app.models import ApiKey
from app.security.commands import refuse_unsafe_bind
from tests.conftest import ROOT, KeyMaker, bearer, seed_text

ARTICLE = {"headline": "Storm closes ports", "body": "The storm closed every port."}
PROBLEM = "application/problem+json"


def post_article(
    client: TestClient, key: str | None = None, body: dict[str, str] | None = None
) -> Any:
    headers = bearer(key) if key else {}
    return client.post("/v1/articles", json=body or ARTICLE, headers=headers)


@pytest.fixture
def public_client(db: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"public_reads": True}))) as client:
        yield client


def run_cli(database_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env={"DATABASE_URL": database_url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        check=check,
        timeout=120,  # a bound on a hang: a CLI start takes seconds on a loaded machine
    )


# Open mode


def test_open_mode_needs_no_key(client: TestClient) -> None:
    created = post_article(client)
    assert created.status_code == 201
    assert client.get(created.headers["location"]).status_code == 200
    assert client.delete(created.headers["location"]).status_code == 204


def test_open_mode_is_announced_at_start_up(
    db: Engine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), TestClient(create_app(settings)):
        pass
    [warning] = [r for r in caplog.records if "open mode" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert "loopback" in warning.getMessage()


def test_open_mode_refuses_requests_that_arrive_on_a_public_address(
    db: Engine, settings: Settings
) -> None:
    with TestClient(create_app(settings), base_url="http://10.1.2.3") as remote:
        refused = remote.get("/v1/articles")
        assert remote.get("/healthz").status_code == 200
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/loopback-only"
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as local:
        assert local.get("/v1/articles").status_code == 200


def test_start_up_refuses_a_public_host_without_keys(db: Engine, settings: Settings) -> None:
    public = settings.model_copy(update={"host": "0.0.0.0"})
    with (
        pytest.raises(RuntimeError, match=r"refusing to serve on 0\.0\.0\.0"),
        TestClient(create_app(public)),
    ):
        pass


def test_start_up_allows_a_public_host_once_a_key_exists(
    db: Engine, settings: Settings, make_key: KeyMaker
) -> None:
    key = make_key("read")
    with TestClient(create_app(settings.model_copy(update={"host": "0.0.0.0"}))) as client:
        assert client.get("/v1/articles", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_serve_refuses_a_public_host_without_an_active_key(
    db: Engine, settings: Settings, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = settings.model_copy(update={"host": host})
    with pytest.raises(SystemExit, match="refusing to serve") as refused:
        refuse_unsafe_bind(public)
    assert "keys create" in str(refused.value.code)
    # The real command path: migrate, check, and never reach uvicorn.
    served: list[Settings] = []
    monkeypatch.setattr(app.cli, "get_settings", lambda: public)
    monkeypatch.setattr(app.cli, "serve", served.append)
    with pytest.raises(SystemExit, match="refusing to serve"):
        app.cli.main(["serve"])
    assert served == []


def test_serve_binds_loopback_without_keys_and_anything_with_one(
    db: Engine, settings: Settings, make_key: KeyMaker
) -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert refuse_unsafe_bind(settings.model_copy(update={"host": host})) is None  # serves
    public = settings.model_copy(update={"host": "0.0.0.0"})
    with pytest.raises(SystemExit, match=r"refusing to serve on 0\.0\.0\.0"):
        refuse_unsafe_bind(public)
    make_key("read")
    assert refuse_unsafe_bind(public) is None  # the same command now serves


# Keys and scopes


def test_a_missing_key_is_a_401_with_a_bearer_challenge(
    client: TestClient, make_key: KeyMaker
) -> None:
    make_key("admin")
    for response in (client.get("/v1/articles"), post_article(client)):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["type"] == "/problems/unauthorized"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer na_not-a-real-key", "Bearer ", "Basic dXNlcjpwYXNz", "na_key-without-scheme"],
)
def test_a_bad_key_is_a_401(client: TestClient, make_key: KeyMaker, authorization: str) -> None:
    make_key("admin")
    response = client.get("/v1/articles", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "error=" in response.headers["www-authenticate"]


def test_a_revoked_key_is_a_401_within_the_lookup_cache_time(
    client: TestClient, make_key: KeyMaker, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "LOOKUP_TTL", 0.3)
    key = make_key("admin", name="leaked")
    assert client.get("/v1/articles", headers=bearer(key)).status_code == 200
    run_cli(database_url, "keys", "revoke", "leaked")
    time.sleep(0.4)  # key lookups are remembered for LOOKUP_TTL seconds
    response = client.get("/v1/articles", headers=bearer(key))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_revoking_every_key_does_not_reopen_the_service(
    client: TestClient, make_key: KeyMaker, database_url: str
) -> None:
    make_key("admin", name="only")
    run_cli(database_url, "keys", "revoke", "only")
    assert client.get("/v1/articles").status_code == 401


def test_a_read_key_can_read_but_not_write(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("read")
    assert client.get("/v1/articles", headers=bearer(key)).status_code == 200
    assert client.get("/v1/articles/1", headers=bearer(key)).status_code == 404
    refused = post_article(client, key)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/insufficient-scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="write"' in refused.headers["www-authenticate"]


def test_a_write_key_can_post_and_read_but_not_delete(
    client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("write")
    created = post_article(client, key)
    assert created.status_code == 201
    location = created.headers["location"]
    assert client.get(location, headers=bearer(key)).status_code == 200
    imported = client.post("/v1/imports", json={"items": [ARTICLE]}, headers=bearer(key))
    assert imported.status_code == 200
    refused = client.delete(location, headers=bearer(key))
    assert refused.status_code == 403
    assert 'scope="admin"' in refused.headers["www-authenticate"]
    assert client.get(location, headers=bearer(key)).status_code == 200


def test_an_admin_key_can_do_everything(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("admin")
    created = post_article(client, key)
    assert created.status_code == 201
    assert client.get(created.headers["location"], headers=bearer(key)).status_code == 200
    assert client.delete(created.headers["location"], headers=bearer(key)).status_code == 204


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/redoc",
        "/openapi.json",
        "/static/docs/swagger-ui.css",
    ],
)
def test_probes_metrics_and_docs_stay_open(
    client: TestClient, make_key: KeyMaker, path: str
) -> None:
    make_key("admin")
    assert client.get(path).status_code == 200


def test_unknown_routes_need_a_key_too(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("read")
    assert client.get("/v1/nothing").status_code == 401
    assert client.get("/v1/nothing", headers=bearer(key)).status_code == 404


# Public reads


def test_public_reads_open_gets_but_not_writes(
    public_client: TestClient, make_key: KeyMaker
) -> None:
    key = make_key("write")
    created = post_article(public_client, key)
    assert public_client.get(created.headers["location"]).status_code == 200
    assert public_client.get("/v1/articles").status_code == 200
    assert post_article(public_client, body={"headline": "H", "body": "B."}).status_code == 401
    assert public_client.delete(created.headers["location"]).status_code == 401
    bad = public_client.get("/v1/articles", headers=bearer("na_wrong"))
    assert bad.status_code == 401  # a key that is sent must be valid


# Rate limits


@pytest.fixture
def limited(db: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 3}))) as c:
        yield c


def test_over_the_limit_is_a_429_with_retry_after(limited: TestClient, make_key: KeyMaker) -> None:
    key, other = make_key("read"), make_key("read")
    statuses = [limited.get("/v1/articles", headers=bearer(key)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = limited.get("/v1/articles", headers=bearer(key))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 20  # 3 a minute: one token per 20 s
    assert limited.get("/v1/articles", headers=bearer(other)).status_code == 200  # per key
    assert limited.get("/healthz").status_code == 200  # probes are never limited


def test_anonymous_requests_are_limited_per_address(limited: TestClient) -> None:
    statuses = [limited.get("/v1/articles").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_a_zero_limit_turns_rate_limiting_off(db: Engine, settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"rate_limit_per_minute": 0}))) as c:
        assert {c.get("/v1/articles").status_code for _ in range(30)} == {200}


# The keys CLI


def test_cli_creates_lists_and_revokes_keys(
    client: TestClient, db: Engine, database_url: str
) -> None:
    created = run_cli(database_url, "keys", "create", "--scope", "write", "--name", "crawler-eu")
    key = created.stdout.strip()
    assert key.startswith("na_")
    assert len(key) >= 40
    assert "cannot be shown again" in created.stderr

    with db.connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(text("SELECT * FROM api_key"))]
        stored_hash = conn.execute(select(ApiKey.key_hash)).scalar_one()
    assert not [value for row in rows for value in row if key in value], "raw key stored"
    assert stored_hash == hashlib.sha256(key.encode()).hexdigest()

    assert post_article(client, key).status_code == 201
    listed = run_cli(database_url, "keys", "list").stdout
    assert key not in listed
    header, line = listed.splitlines()
    assert header.split()[:4] == ["id", "name", "scope", "prefix"]
    assert line.split()[:4] == ["1", "crawler-eu", "write", f"{key[:11]}…"]
    assert line.split()[-1] == "no"  # not revoked
    assert "never" not in line  # it was used just now

    again = run_cli(database_url, "keys", "create", "--name", "crawler-eu", check=False)
    assert again.returncode == 1
    assert "exists already" in again.stderr

    revoked = run_cli(database_url, "keys", "revoke", "1")
    assert "revoked API key 1 'crawler-eu'" in revoked.stdout
    assert post_article(client, key).status_code == 401
    [entry] = map(json.loads, run_cli(database_url, "keys", "list", "--json").stdout.splitlines())
    assert entry["name"] == "crawler-eu"
    assert entry["revoked_at"] is not None
    assert entry["last_used_at"] is not None
    assert run_cli(database_url, "keys", "revoke", "nobody", check=False).returncode == 1


def test_each_create_prints_a_new_key(database_url: str, db: Engine) -> None:
    first = run_cli(database_url, "keys", "create", "--name", "a").stdout.strip()
    second = run_cli(database_url, "keys", "create", "--name", "b", "--scope", "admin")
    assert first != second.stdout.strip()
    listed = run_cli(database_url, "keys", "list").stdout
    assert "read" in listed
    assert "admin" in listed


# OpenAPI


def test_openapi_documents_open_routes_errors_and_idempotency(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/readyz"]["get"]["security"] == []
    listing = paths["/v1/articles"]["get"]
    assert "security" not in listing  # the top-level requirement applies
    for code in ("401", "403", "429"):
        assert PROBLEM in listing["responses"][code]["content"]
    assert "`read` scope" in listing["responses"]["403"]["description"]
    create = paths["/v1/articles"]["post"]
    assert "robots.txt" in create["responses"]["403"]["description"]
    assert "`write` scope" in create["responses"]["403"]["description"]
    assert (
        "`admin` scope"
        in paths["/v1/articles/{article_id}"]["delete"]["responses"]["403"]["description"]
    )
    for path in ("/v1/articles", "/v1/imports", "/v1/articles/{article_id}/reextract"):
        parameters = paths[path]["post"]["parameters"]
        [header] = [p for p in parameters if p["name"] == "Idempotency-Key"]
        assert header["in"] == "header"
        assert header["schema"]["maxLength"] == 255
        assert "409" in paths[path]["post"]["responses"]
    assert all(p["name"] != "Idempotency-Key" for p in listing.get("parameters", []))


def test_openapi_marks_the_key_optional_for_public_reads(public_client: TestClient) -> None:
    paths = public_client.get("/openapi.json").json()["paths"]
    assert paths["/v1/articles"]["get"]["security"] == [{}, {"ApiKey": []}]
    assert "security" not in paths["/v1/articles"]["post"]


def test_seed_text_posts_with_a_key(client: TestClient, make_key: KeyMaker) -> None:
    key = make_key("write")
    response = client.post(
        "/v1/articles",
        content=seed_text().encode(),
        headers={"Content-Type": "text/plain", **bearer(key)},
    )
    assert response.status_code == 201
