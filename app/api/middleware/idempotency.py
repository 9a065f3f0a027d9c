"""`Idempotency-Key` on POST /v1/articles, /v1/imports and /v1/articles/{id}/reextract.

A plain ASGI middleware inside the authentication middleware (so it knows the caller), and
outside the routes, whose streamed request and response bodies it watches without buffering:

1. Claim: in its own committed transaction, insert a *pending* row for (caller, key) under a
   unique constraint. Only one request can insert it; a concurrent duplicate fails on the
   constraint (on Postgres it waits for the first insert to commit; on SQLite writers are
   serialised by BEGIN IMMEDIATE), re-reads the row and gets 409 while it is pending. So the
   side effect runs at most once, and no request body has to be read before the claim.
2. Run the route. The request body reaches it chunk by chunk, untouched, through a wrapped
   `receive` that feeds a sha256 (with Content-Type and Content-Location, which change what
   a body means); the response goes out as it is produced, through a wrapped `send` that
   also keeps a copy (status, Content-Type, Location, Content-Location, body).
3. Settle, just before the last response chunk is sent, so that a client that has seen the
   whole response always finds the record complete: store hash and response; or delete the
   row (release the key) when the status is 5xx (a retry should run again), the response is
   over IDEMPOTENCY_MAX_RESPONSE_BYTES (then nothing is kept and a retry runs again; safe
   here because storing an article is itself deduplicated by content hash and URL), the
   route did not read the whole body (a 413), the route failed with an exception, or a
   streamed answer ended otherwise than it began (an NDJSON import's error line: its late
   status, see `set_late_status`).

A later request with the same key (within IDEMPOTENCY_TTL_HOURS) is not passed to the route:
its body is hashed as it is read and compared; the same method, path, query and body get the
first response again (with `Idempotent-Replayed: true`), anything else a 422. If the process
dies while a request is pending, its key answers 409 until it expires.

What a record keeps, and takedowns (a deleted article's text is never kept):
`app.api.middleware.idempotency_records`.
"""

import logging
import re
import time
from datetime import timedelta

import anyio
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import MIDDLEWARE_ERRORS, error_response, send_problem
from app.api.middleware.auth import ANONYMOUS, route_path
from app.api.middleware.idempotency_records import (
    SHOWN_ARTICLE,
    Capture,
    claim,
    request_hasher,
    settle,
)
from app.api.middleware.requests import late_status
from app.config import Settings
from app.errors import (
    Gone,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidInput,
)
from app.models import IdempotencyRecord

log = logging.getLogger(__name__)

IDEMPOTENT_PATHS = re.compile(r"/v1/(?:articles|imports|articles/[^/]+/reextract)")
HEADER = b"idempotency-key"
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the header's users send
PURGE_EVERY = 300.0  # seconds between deletions of every expired record, per process


def is_idempotent(method: str, path: str) -> bool:
    """Whether this route honours Idempotency-Key (`path` may be an OpenAPI template)."""
    return method == "POST" and bool(IDEMPOTENT_PATHS.fullmatch(re.sub(r"\{[^}]*\}", "1", path)))


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.ttl = timedelta(hours=settings.idempotency_ttl_hours)
        self.max_response = settings.idempotency_max_response_bytes
        self.max_drain = settings.max_body_bytes
        self.max_request = max(
            settings.max_body_bytes, settings.max_import_bytes, settings.max_ndjson_bytes
        )
        self._purged_at = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = None
        if scope["type"] == "http" and is_idempotent(scope["method"], route_path(scope)):
            key = dict(scope.get("headers", ())).get(HEADER)
        if key is None:
            await self.app(scope, receive, send)
            return
        try:  # errors before the route runs; once it runs, its own handlers answer
            path = self._target(scope)
            record = await self._claim(key.decode("latin-1"), path, scope)
            if record.status is not None:
                await self._again(record, path, scope, receive, send)
                return
        except MIDDLEWARE_ERRORS as exc:
            await send_problem(exc, scope, receive, send)
            return
        await self._first(record.id, scope["app"].state.write_sessions, scope, receive, send)

    @staticmethod
    def _target(scope: Scope) -> str:
        query = scope.get("query_string", b"").decode("latin-1")
        return route_path(scope) + (f"?{query}" if query else "")

    async def _claim(self, key: str, path: str, scope: Scope) -> IdempotencyRecord:
        """This request's new pending record, or the completed one of an earlier request."""
        if not VALID_KEY.fullmatch(key):
            raise InvalidInput("Idempotency-Key must be 1 to 255 visible ASCII characters")
        owner = scope.get("state", {}).get("principal", ANONYMOUS).owner
        factory = scope["app"].state.write_sessions
        purge = time.monotonic() - self._purged_at > PURGE_EVERY
        record, claimed = await run_in_threadpool(claim, factory, owner, key, path, self.ttl, purge)
        if purge:
            self._purged_at = time.monotonic()
        if record is None or (not claimed and record.status is None):
            raise IdempotencyInProgress(
                "a request with this Idempotency-Key is in progress; retry when it has finished"
            )
        return record

    async def _first(
        self,
        record_id: int,
        factory: sessionmaker[Session],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        capture = Capture(request_hasher(scope), self.max_response)
        settled = False

        async def receive_hashing() -> Message:
            capture.received = True
            message = await receive()
            capture.request(message)
            return message

        async def send_copying(message: Message) -> None:
            nonlocal settled
            capture.response(message)
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if last and not settled:
                capture.article_id = scope.get("state", {}).get(SHOWN_ARTICLE)
                if not capture.received:  # e.g. reextract: no body, or a 415 before reading
                    await self._drain(receive_hashing, capture)
                settled = True
                keep = capture.keepable and late_status(scope) is None  # not an import cut short
                await self._settle(factory, record_id, capture if keep else None)
            await send(message)

        try:
            await self.app(scope, receive_hashing, send_copying)
        finally:
            if not settled:  # the route raised, or never finished its response
                await self._settle(factory, record_id, None)

    async def _drain(self, receive: Receive, capture: Capture) -> None:
        """Read (and hash) a body the route did not ask for, up to MAX_BODY_BYTES."""
        size = 0
        while not capture.complete and size <= self.max_drain:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
        if size > self.max_drain:
            capture.complete = False

    async def _settle(
        self, factory: sessionmaker[Session], record_id: int, kept: Capture | None
    ) -> None:
        with anyio.CancelScope(shield=True):  # a cancelled request must still release its key
            try:
                await run_in_threadpool(settle, factory, record_id, kept)
            except SQLAlchemyError:
                log.exception("Idempotency-Key record %s not settled", record_id)

    async def _again(
        self, record: IdempotencyRecord, path: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Answer a repeated request with the first response, without running the route."""
        digest = await self._hash_body(scope, receive)
        if (record.method, record.path, record.request_hash) != ("POST", path, digest):
            raise IdempotencyKeyReused(
                "this Idempotency-Key was first used with a different request (path, query, "
                "Content-Type or body); send a new key for a new request"
            )
        if record.response_body is None:  # withdrawn: it showed an article deleted since
            gone = error_response(
                Gone("the article in the response to this request has been deleted since")
            )
            gone.headers["Idempotent-Replayed"] = "true"
            await gone(scope, receive, send)
            return
        body = record.response_body
        headers = [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in record.response_headers or []
        ]
        headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
        await send({"type": "http.response.start", "status": record.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _hash_body(self, scope: Scope, receive: Receive) -> str | None:
        hasher, size = request_hasher(scope), 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_request:
                return None
            hasher.update(chunk)
            if not message.get("more_body", False):
                return str(hasher.hexdigest())
