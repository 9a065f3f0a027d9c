"""The authentication middleware: API key → scope check → rate limit, before any route runs.

Open mode: while no API key has ever been created, every request is allowed without a key,
but only on loopback. `python -m app serve` (and the app's start-up, for the configured
HOST) refuse a non-loopback HOST then, and a request that arrives on a non-loopback address
anyway (`uvicorn --host 0.0.0.0` run by hand) is refused here, by the address of the socket
it came in on. Revoking every key does not re-open the service: open mode ends for good
when the first key is created.

A plain ASGI callable, like the request middleware, so streamed bodies pass untouched. It
sets `scope["state"]["principal"]` for the routes and the idempotency middleware.
"""

import ipaddress
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.errors import MIDDLEWARE_ERRORS, send_problem
from app.api.middleware.ratelimit import RateLimiter
from app.config import Settings
from app.errors import InsufficientScope, LoopbackOnly, RateLimited, Unauthorized
from app.security.keys import CREATE_HINT, grants, hash_key, is_loopback, required_scope
from app.security.repositories import ApiKeyRepository

log = logging.getLogger(__name__)

TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per key


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API key, or nobody (open mode, public reads)."""

    key_id: int | None
    name: str | None
    scope: str | None

    @property
    def owner(self) -> str:
        """The namespace of the caller's Idempotency-Keys."""
        return f"key:{self.key_id}" if self.key_id is not None else "anonymous"


ANONYMOUS = Principal(None, None, None)


LOOKUP_TTL = 2.0  # seconds
_AGAIN = "authenticate_again"
LOOKUP_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Lookup:
    keys_exist: bool
    key_id: int | None = None
    name: str | None = None
    scope: str | None = None
    revoked: bool = False


def route_path(scope: Scope) -> str:
    """The path the router matches: without the root path (behind a proxy prefix)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def require_scope(scope: Scope, needed: str, what: str) -> None:
    """For a request whose *parameters* need more than its route does (`?restore=true`):
    InsufficientScope unless the caller's key grants `needed`. A caller without a key got
    past AuthMiddleware on a write route only in open mode, where everything is allowed."""
    principal: Principal = scope.get("state", {}).get("principal", ANONYMOUS)
    if principal.key_id is not None and not grants(principal.scope or "", needed):
        raise InsufficientScope(
            f"{what} needs the {needed!r} scope; key {principal.name!r} has {principal.scope!r}",
            scope=needed,
        )


def bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>`; "" for any other Authorization."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


def lookup_key(
    sessions: sessionmaker[Session],
    write_sessions: sessionmaker[Session],
    toucher: Executor,
    token: str | None,
) -> Lookup:
    """Find the key (and note its use, at most once a minute); in a worker thread."""
    with sessions() as session:
        repo = ApiKeyRepository(session)
        key = repo.get_by_hash(hash_key(token)) if token else None
        if key is None:
            return Lookup(keys_exist=repo.any_exist())
        found = Lookup(True, key.id, key.name, key.scope, key.revoked_at is not None)
        last_used = key.last_used_at
    now = datetime.now(UTC)
    if not found.revoked and (last_used is None or now - last_used > TOUCH_EVERY):
        # Bookkeeping off the request path: it may wait for SQLite's write lock.
        toucher.submit(_touch, write_sessions, key.id, now)
    return found


def _touch(write_sessions: sessionmaker[Session], key_id: int, now: datetime) -> None:
    try:  # bookkeeping only: never fail the request for it
        with write_sessions() as session, session.begin():
            ApiKeyRepository(session).touch(key_id, now)
    except SQLAlchemyError:
        log.debug("last_used_at of key %s not updated", key_id, exc_info=True)


async def authenticate_again(scope: Scope) -> None:
    """Check the request's API key once more, as at its start (answered from the lookup
    cache, so at most one query every LOOKUP_TTL seconds). Long requests (a streamed import)
    call it as they go: a key revoked meanwhile raises Unauthorized and stops them."""
    again = scope.get("state", {}).get(_AGAIN)
    if again is not None:
        await again()


def served_on_loopback(scope: Scope) -> bool:
    """False only when the request came in on a non-loopback IP address. In-process test
    transports report a host name ("testserver"), unix sockets a path: both are local."""
    server: Any = scope.get("server")
    if not server:
        return True
    try:
        ipaddress.ip_address(str(server[0]).strip("[]"))
    except ValueError:
        return True
    return is_loopback(str(server[0]))


class AuthMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, limiter: RateLimiter) -> None:
        self.app = app
        self.public_reads = settings.public_reads
        self.limiter = limiter
        # Key lookups cost a thread hop and a query per request: remember them briefly.
        # A new, revoked or first key therefore takes effect within LOOKUP_TTL seconds.
        self._lookups: dict[str | None, tuple[float, Lookup]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        needed = (
            required_scope(scope["method"], route_path(scope)) if scope["type"] == "http" else None
        )
        if needed is None:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(scope, needed)
            self._limit(scope, principal)
        except MIDDLEWARE_ERRORS as exc:
            await send_problem(exc, scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state[_AGAIN] = partial(self._authenticate, scope, needed)
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope, needed: str) -> Principal:
        token = bearer_token(scope)
        state = scope["app"].state
        found = await self._lookup(state, token)
        if not found.keys_exist:
            if not served_on_loopback(scope):
                raise LoopbackOnly(
                    "no API key exists yet, so this service answers on loopback only; "
                    f"create one with `{CREATE_HINT}` and send it as a bearer token"
                )
            return ANONYMOUS
        if token is None:
            if needed == "read" and self.public_reads:
                return ANONYMOUS
            raise Unauthorized("send an API key: `Authorization: Bearer <key>`")
        if token == "":
            raise Unauthorized("use `Authorization: Bearer <key>`", error="invalid_request")
        if found.key_id is None or found.revoked:
            raise Unauthorized("the API key is unknown or revoked", error="invalid_token")
        if not grants(found.scope or "", needed):
            raise InsufficientScope(
                f"this request needs the {needed!r} scope; key {found.name!r} has {found.scope!r}",
                scope=needed,
            )
        return Principal(found.key_id, found.name, found.scope)

    async def _lookup(self, state: Any, token: str | None) -> Lookup:
        now = time.monotonic()
        cached = self._lookups.get(token)
        if cached and cached[0] > now:
            return cached[1]
        found = await run_in_threadpool(
            lookup_key, state.sessions, state.write_sessions, state.key_toucher, token
        )
        if len(self._lookups) >= LOOKUP_CACHE_SIZE:
            self._lookups.clear()
        self._lookups[token] = (now + LOOKUP_TTL, found)
        return found

    def _limit(self, scope: Scope, principal: Principal) -> None:
        client: Any = scope.get("client")
        caller = (
            principal.owner
            if principal.key_id is not None
            else f"ip:{client[0] if client else 'unknown'}"
        )
        if wait := self.limiter.acquire(caller):
            raise RateLimited(
                f"more than {int(self.limiter.capacity)} requests a minute; retry in {wait} s",
                retry_after=wait,
            )
