"""NDJSON imports answer as they go, against a real uvicorn: results leave while the body is
still coming in; a client that reads only once it has sent everything does not deadlock the
server; an error after results went out is the answer's last line; a key revoked mid-stream
stops the import after what it committed."""

import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.db import make_sessionmaker, session_scope, writer
from app.models import utcnow
from app.security.repositories import ApiKeyRepository
from tests.conftest import KeyMaker, LiveServer, bearer, ndjson_import
from tests.stream_client import StreamingImport
from tests.tcp_proxy import TcpProxy
from tests.test_faults import ON_POSTGRES, count_articles, wait_until

CHUNK = 5
ENV = {"IMPORT_CHUNK_SIZE": str(CHUNK), "LOG_LEVEL": "WARNING"}


def lines(start: int, stop: int) -> bytes:
    items = ({"headline": f"Story {i}", "body": f"Body of story {i}."} for i in range(start, stop))
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


@pytest.fixture
def server(db: Engine, database_url: str) -> Iterator[LiveServer]:
    live = LiveServer(database_url, env=ENV)
    yield live
    live.stop()


def test_results_leave_as_each_chunk_commits_while_the_body_still_comes(
    server: LiveServer, db: Engine
) -> None:
    with StreamingImport(server.port) as upload:
        upload.send(lines(0, CHUNK))
        # The body is not finished: on a server that answers only at its end, this waits
        # for the socket timeout (60 s) and fails.
        first = [upload.read_line() for _ in range(CHUNK)]
        assert upload.status == 200
        assert upload.headers["content-type"] == "application/x-ndjson"
        assert [(r["index"], r["status"]) for r in first] == [(i, "created") for i in range(CHUNK)]
        assert count_articles(db) == CHUNK  # reported means committed
        upload.send(lines(CHUNK, 12), last=True)
        rest = upload.read_all()
    assert [r["index"] for r in rest[:-1]] == list(range(CHUNK, 12))
    assert rest[-1]["counts"]["created"] == 12
    ids = [r["id"] for r in first + rest[:-1]]
    assert len(set(ids)) == 12


def test_a_client_that_reads_only_after_sending_everything_gets_every_result(
    server: LiveServer,
) -> None:
    """httpx sends the whole body before reading. Here every item's error repeats its ~1 KB
    field name, so the results (~60 MB) far outgrow the socket buffers (a few MB) while the
    body is still being sent: a server that stopped reading whenever it could not send would
    wait for the client, and the client for it."""
    count, name = 60_000, "x" * 1000

    def body() -> Iterator[bytes]:
        for start in range(0, count, 1000):
            yield b"".join(
                json.dumps({"headline": "H", "body": "B", f"{name}{i}": 1}).encode() + b"\n"
                for i in range(start, start + 1000)
            )

    with httpx.Client(timeout=300) as client:
        response = client.post(
            f"{server.url}/v1/imports",
            content=body(),
            headers={"content-type": "application/x-ndjson"},
        )
    result = ndjson_import(response)
    assert result["counts"]["error"] == count
    assert f"{name}{count - 1}" in result["results"][-1]["error"]


def test_an_error_after_results_is_the_last_line_and_is_not_kept(
    db: Engine, database_url: str
) -> None:
    """The body outgrows MAX_NDJSON_BYTES after the first chunk committed: the answer has
    started, so the 413 comes as its last line; the reported chunk stays stored. Such an
    answer is not kept for its Idempotency-Key: the same request again runs again."""
    first, too_much = lines(0, CHUNK), lines(100, 200)
    live = LiveServer(database_url, env={**ENV, "MAX_NDJSON_BYTES": "2048"})  # > first
    answers = []
    try:
        for _ in range(2):
            with StreamingImport(live.port, {"Idempotency-Key": "late-error"}) as upload:
                upload.send(first)
                results = [upload.read_line() for _ in range(CHUNK)]
                upload.send(too_much, last=True)
                answers.append((upload.headers, results, upload.read_all()))
    finally:
        live.stop()
    for (headers, results, rest), status in zip(answers, ["created", "duplicate"], strict=True):
        assert "idempotent-replayed" not in headers
        assert [r["status"] for r in results] == [status] * CHUNK
        assert len(rest) == 1
        assert rest[0]["error"]["status"] == 413
        assert rest[0]["error"]["type"] == "/problems/payload-too-large"
    assert count_articles(db) == CHUNK


def revoke(engine: Engine, name: str) -> None:
    with session_scope(make_sessionmaker(writer(engine))) as session:  # BEGIN IMMEDIATE
        key = ApiKeyRepository(session).get_by_id_or_name(name)
        assert key is not None
        key.revoked_at = utcnow()


def test_a_key_revoked_mid_stream_stops_the_import(
    db: Engine, database_url: str, make_key: KeyMaker
) -> None:
    key = make_key("write", name="leaky")
    live = LiveServer(database_url, env=ENV)
    sent, done = [0], threading.Event()

    def send_slowly(upload: StreamingImport) -> None:
        """A chunk every 50 ms until the answer ends (at most two minutes)."""
        try:
            while not done.wait(0.05) and sent[0] < 120 / 0.05 * CHUNK:
                upload.send(lines(sent[0], sent[0] + CHUNK))
                sent[0] += CHUNK
            upload.end()
        except OSError:
            pass  # the server may close the connection once it has answered

    try:
        with StreamingImport(live.port, bearer(key)) as upload:
            sender = threading.Thread(target=send_slowly, args=(upload,))
            sender.start()
            try:
                answer = [upload.read_line()]
                revoke(db, "leaky")
                answer += upload.read_all()
            finally:
                done.set()
                sender.join(30)
    finally:
        live.stop()
    *results, last = answer
    assert last["error"]["status"] == 401
    assert "revoked" in last["error"]["detail"]
    assert [r["index"] for r in results] == list(range(len(results)))
    created = sum(r["status"] == "created" for r in results)
    assert created == len(results) < sent[0]
    assert count_articles(db) == created  # what was committed was reported, nothing more


@pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL: a database to cut off")
def test_a_database_failure_mid_stream_is_the_last_line(db: Engine, database_url: str) -> None:
    url = make_url(database_url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port)
        live = LiveServer(via_proxy.render_as_string(hide_password=False), env=ENV)
        try:
            with StreamingImport(live.port) as upload:
                upload.send(lines(0, CHUNK))
                results = [upload.read_line() for _ in range(CHUNK)]
                proxy.down()
                upload.send(lines(CHUNK, 3 * CHUNK), last=True)
                rest = upload.read_all()
            proxy.up()
            assert wait_until(lambda: httpx.get(f"{live.url}/readyz").status_code == 200, 15)
        finally:
            live.stop()
    assert [r["status"] for r in results] == ["created"] * CHUNK
    assert rest[-1]["error"]["status"] == 503
    assert rest[-1]["error"]["type"] == "/problems/database-unavailable"
    assert count_articles(db) == CHUNK + sum(r.get("status") == "created" for r in rest[:-1])
