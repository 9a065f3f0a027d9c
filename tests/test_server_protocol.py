"""Errors answered by the server layer, before the app sees a request, are problem+json too:
414 for an over-long request target, 431 for over-long header fields (also one that never
ends), 400 for bytes that are not HTTP. Against `python -m app serve`, as production runs."""

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from app.api.server import MAX_HEADER_BYTES, MAX_TARGET_BYTES
from tests.conftest import LiveServer

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(engine: Engine, database_url: str) -> Iterator[LiveServer]:
    running = LiveServer(database_url, serve=True)
    yield running
    running.stop()


def assert_problem(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"/problems/{kind}"
    assert response.json()["status"] == status
    assert response.headers["x-request-id"]


def raw_exchange(server: LiveServer, request: bytes) -> httpx.Response:
    """Send bytes on a socket and parse what comes back."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head_part, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode("latin-1").split("\r\n")
    headers = [tuple(line.split(": ", 1)) for line in lines]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def test_ten_thousand_query_parameters_get_a_414(server: LiveServer) -> None:
    query = "&".join(f"p{i}=v{i}" for i in range(10_000))  # ~110 KB
    assert len(query) > MAX_TARGET_BYTES
    request = f"GET /v1/articles?{query} HTTP/1.1\r\nHost: x\r\n\r\n"  # httpx refuses it
    response = raw_exchange(server, request.encode())
    assert_problem(response, 414, "uri-too-long")
    assert response.headers["connection"] == "close"


def test_a_query_under_the_server_limit_reaches_the_app(server: LiveServer) -> None:
    response = httpx.get(f"{server.url}/v1/articles", params={"q": "a" * 36_000}, timeout=60)
    assert_problem(response, 414, "uri-too-long")  # the app's own limit on query strings
    assert "query string" in response.json()["detail"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Long": "a" * (MAX_HEADER_BYTES + 10)},
        {f"X-Many-{i}": "a" * 10 for i in range(MAX_HEADER_BYTES // 10)},
    ],
    ids=["one-long", "many"],
)
def test_over_long_headers_get_a_431(server: LiveServer, headers: dict[str, str]) -> None:
    response = httpx.get(f"{server.url}/v1/articles", headers=headers, timeout=60)
    assert_problem(response, 431, "headers-too-large")


def test_a_header_that_does_not_end_gets_a_431(server: LiveServer) -> None:
    """768 KiB of one header value, still without its end: more than the server reads at
    once (256 KiB), so it sees reads that complete no header field, counts them, and answers
    without waiting for an end that may never come."""
    head = b"GET /v1/articles HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"a" * 768 * 1024
    assert_problem(raw_exchange(server, head), 431, "headers-too-large")


def test_headers_under_the_limit_are_served(server: LiveServer) -> None:
    response = httpx.get(
        f"{server.url}/v1/articles", headers={"X-Note": "a" * (MAX_HEADER_BYTES // 2)}, timeout=60
    )
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v1/articles HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS to a plain port\r\n\r\n",
        b"POST /v1/articles HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["bad-header", "tls-hello", "bad-chunk"],
)
def test_what_is_not_http_gets_a_400_problem(server: LiveServer, head: bytes) -> None:
    response = raw_exchange(server, head)
    assert_problem(response, 400, "invalid-input")
    assert json.loads(response.content)["title"] == "Invalid input"
