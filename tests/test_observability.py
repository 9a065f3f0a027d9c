"""Request ids, JSON logs and Prometheus metrics, seen through HTTP."""

import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from app.config import Settings
from app.main import create_app
from app.observability import record_fetch_failure, record_ingest
from tests.conftest import HTTP_TIMEOUT, LiveServer, ndjson_import

HEX_ID = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("tests.observability")


def metric(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample on /metrics (0 when absent)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return sample(response.text, name, **labels)


def sample(exposition: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def access_line(lines: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    [line] = [x for x in lines if x["logger"] == "app.access" and x["request_id"] == request_id]
    return line


def _boom() -> None:
    log.info("about to fail")
    raise RuntimeError("boom")


def _chatty() -> dict[str, str]:
    log.info("inside a sync route")
    return {"ok": "yes"}


@pytest.fixture
def app(db: Engine, settings: Settings) -> FastAPI:
    """The app, plus two routes that exist only here: one that logs, one that fails."""
    app = create_app(settings)
    app.add_api_route("/test/boom", _boom)
    app.add_api_route("/test/chatty", _chatty)
    return app


@pytest.fixture
def lenient(app: FastAPI) -> Iterator[TestClient]:
    """A client that gets the 500 response instead of the server's exception."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# Request ids


@pytest.mark.parametrize("sent", ["abc", "A.b_c-9", "x" * 128, "0f" * 16])
def test_a_sane_request_id_is_echoed(client: TestClient, sent: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["x" * 129, "has space", "semi;colon", "new\tline", "", "é"])
def test_an_insane_request_id_is_replaced(client: TestClient, sent: str) -> None:
    response = client.get("/healthz", headers=[(b"x-request-id", sent.encode("utf-8"))])
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


def test_each_request_without_an_id_gets_a_new_one(client: TestClient) -> None:
    first, second = (client.get("/healthz").headers["X-Request-ID"] for _ in range(2))
    assert HEX_ID.fullmatch(first)
    assert first != second


@pytest.mark.parametrize(
    ("path", "status"), [("/v1/articles/999", 404), ("/nowhere", 404), ("/v1/articles/x", 422)]
)
def test_problem_responses_carry_the_request_id(client: TestClient, path: str, status: int) -> None:
    response = client.get(path, headers={"X-Request-ID": "problem-1"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["X-Request-ID"] == "problem-1"


def test_an_unhandled_error_is_a_500_with_the_request_id(
    lenient: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = lenient.get("/test/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "boom-1"
    lines = [x for x in json_lines(capsys.readouterr().err) if x["request_id"] == "boom-1"]
    assert [x["message"] for x in lines] == [
        "about to fail",
        "unhandled error",
        "GET /test/boom 500",
    ]
    assert "RuntimeError: boom" in lines[1]["exception"]


# Logs


def test_one_json_access_line_per_request(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = client.get("/v1/articles/7", headers={"X-Request-ID": "log-1"})
    line = access_line(json_lines(capsys.readouterr().err), "log-1")
    assert line["level"] == "INFO"
    assert line["message"] == "GET /v1/articles/7 404"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/v1/articles/7", 404)
    assert line["route"] == "/v1/articles/{article_id}"
    assert line["client"] == "testclient"
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    logged_at = datetime.fromisoformat(line["timestamp"])
    assert logged_at.utcoffset() == timedelta(0)
    assert response.headers["X-Request-ID"] == line["request_id"]


def test_records_from_a_sync_route_carry_the_request_id(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), TestClient(app) as client:
        request_id = client.get("/test/chatty").headers["X-Request-ID"]
    [record] = [r for r in caplog.records if r.getMessage() == "inside a sync route"]
    assert record.request_id == request_id  # type: ignore[attr-defined]


def test_records_outside_a_request_have_no_request_id(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    create_app(settings)
    log.warning("between requests")
    [line] = [x for x in json_lines(capsys.readouterr().err) if x["message"] == "between requests"]
    assert line["request_id"] is None
    assert line["logger"] == "tests.observability"


def test_text_format_shows_the_request_id(
    db: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    text_settings = settings.model_copy(update={"log_format": "text"})
    try:
        with TestClient(create_app(text_settings)) as client:
            client.get("/healthz", headers={"X-Request-ID": "plain-1"})
        assert "INFO app.access [plain-1] GET /healthz 200" in capsys.readouterr().err
    finally:
        create_app(settings)  # back to JSON for the tests that follow


# Metrics


def test_metrics_are_prometheus_text_and_not_in_the_schema(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE http_requests_total counter" in response.text
    assert "# TYPE http_request_duration_seconds histogram" in response.text
    assert 'articles_ingested_total{status="updated"}' in response.text
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_requests_are_counted_by_route_template(client: TestClient) -> None:
    route = {"method": "GET", "route": "/v1/articles/{article_id}", "status": "404"}
    before = metric(client, "http_requests_total", **route)
    count_before = metric(
        client, "http_request_duration_seconds_count", method="GET", route=route["route"]
    )
    for article_id in (123456, 654321):
        client.get(f"/v1/articles/{article_id}")
    exposition = client.get("/metrics").text
    assert sample(exposition, "http_requests_total", **route) == before + 2
    duration_count = sample(
        exposition, "http_request_duration_seconds_count", method="GET", route=route["route"]
    )
    assert duration_count == count_before + 2
    label_values = {
        value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        for value in s.labels.values()
    }
    assert not any("123456" in v or "654321" in v for v in label_values)


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    labels = {"method": "GET", "route": "unmatched", "status": "404"}
    before = metric(client, "http_requests_total", **labels)
    client.get("/no/such/page")
    client.get("/wp-login.php")
    assert metric(client, "http_requests_total", **labels) == before + 2
    assert "wp-login" not in client.get("/metrics").text


def test_a_500_is_counted(lenient: TestClient) -> None:
    labels = {"method": "GET", "route": "/test/boom", "status": "500"}
    before = metric(lenient, "http_requests_total", **labels)
    lenient.get("/test/boom")
    assert metric(lenient, "http_requests_total", **labels) == before + 1


def test_posting_articles_counts_created_then_duplicate(client: TestClient) -> None:
    created = metric(client, "articles_ingested_total", status="created")
    duplicate = metric(client, "articles_ingested_total", status="duplicate")
    for _ in range(2):
        client.post("/v1/articles", json={"headline": "H", "body": "B."})
    assert metric(client, "articles_ingested_total", status="created") == created + 1
    assert metric(client, "articles_ingested_total", status="duplicate") == duplicate + 1


def test_record_functions_count_and_never_raise(client: TestClient) -> None:
    updated = metric(client, "articles_ingested_total", status="updated")
    timeouts = metric(client, "fetch_failures_total", reason="timeout")
    others = metric(client, "fetch_failures_total", reason="other")
    record_ingest("updated", 3)
    record_fetch_failure("timeout")
    record_ingest("created", -1)
    record_ingest(None, 1)  # type: ignore[arg-type]
    record_fetch_failure("x" * 1000)
    record_fetch_failure(None)  # type: ignore[arg-type]
    assert metric(client, "articles_ingested_total", status="updated") == updated + 3
    assert metric(client, "fetch_failures_total", reason="timeout") == timeouts + 1
    assert metric(client, "fetch_failures_total", reason="other") == others + 2


def test_metrics_can_be_switched_off(db: Engine, settings: Settings) -> None:
    off = settings.model_copy(update={"metrics_enabled": False})
    with TestClient(create_app(off)) as client:
        response = client.get("/metrics")
    assert response.status_code == 404
    assert response.headers["X-Request-ID"]


# Streaming through the middleware


def test_a_json_import_streams_its_result(client: TestClient) -> None:
    created = metric(client, "articles_ingested_total", status="created")
    errors = metric(client, "articles_ingested_total", status="error")
    items = [{"headline": "One", "body": "A."}, {"headline": "Two", "body": "B."}, {"body": ""}]
    response = client.post(
        "/v1/imports", json={"items": items}, headers={"X-Request-ID": "import-1"}
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "import-1"
    result = response.json()
    assert [r["status"] for r in result["results"]] == ["created", "created", "error"]
    assert result["counts"].items() >= {"created": 2, "duplicate": 0, "error": 1}.items()
    assert metric(client, "articles_ingested_total", status="created") == created + 2
    assert metric(client, "articles_ingested_total", status="error") == errors + 1


def test_a_streamed_ndjson_body_passes_through(client: TestClient) -> None:
    def body() -> Iterator[bytes]:
        for n in range(3):
            yield json.dumps({"headline": f"Streamed {n}", "body": "Text."}).encode() + b"\n"

    response = client.post(
        "/v1/imports", content=body(), headers={"Content-Type": "application/x-ndjson"}
    )
    counts = ndjson_import(response)["counts"]
    assert counts.items() >= {"created": 3, "duplicate": 0, "error": 0}.items()
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


# A real uvicorn


def wait_for(request_id: str, capfd: pytest.CaptureFixture[str]) -> list[str]:
    """Lines written to stderr so far, once one of them carries this request id."""
    seen: list[str] = []
    deadline = time.monotonic() + HTTP_TIMEOUT  # a bound on a hang: lines come at once
    while time.monotonic() < deadline:
        seen += capfd.readouterr().err.splitlines()
        if any(f'"request_id": "{request_id}"' in line for line in seen):
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no line with request_id {request_id} in {seen}")


def test_uvicorn_writes_only_json_lines(
    db: Engine, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    server = LiveServer(database_url)  # started here so its stderr is the one capfd reads
    try:
        response = httpx.get(
            f"{server.url}/v1/articles/1", headers={"X-Request-ID": "live-1"}, timeout=HTTP_TIMEOUT
        )
        lines = wait_for("live-1", capfd)
    finally:
        server.stop()
    assert response.headers["X-Request-ID"] == "live-1"
    records = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    line = access_line(records, "live-1")
    assert (line["status"], line["client"]) == (404, "127.0.0.1")


def test_metrics_add_up_across_workers(
    db: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server = LiveServer(database_url, workers=2)
    try:
        for _ in range(20):  # a new connection each time, so both workers may answer
            httpx.get(f"{server.url}/v1/articles/999", timeout=HTTP_TIMEOUT)
        exposition = httpx.get(f"{server.url}/metrics", timeout=HTTP_TIMEOUT).text
    finally:
        server.stop()
    route = {"method": "GET", "route": "/v1/articles/{article_id}", "status": "404"}
    assert sample(exposition, "http_requests_total", **route) == 20
    assert list(tmp_path.glob("counter_*.db"))
