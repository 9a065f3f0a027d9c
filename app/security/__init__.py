"""API keys, rate limits and idempotency: `install_security(app, settings)` in `create_app`.

Request path, outermost first: the request middleware (ids, logs, metrics) → AuthMiddleware
(API key, scope, rate limit; problem+json 401/403/429) → IdempotencyMiddleware (POSTs with
an Idempotency-Key) → the routes. Keys: `app.security.keys`; the CLI: `app.security.commands`.
"""

import logging

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.security.auth import CREATE_HINT, AuthMiddleware, Principal
from app.security.idempotency import IdempotencyMiddleware
from app.security.keys import is_loopback
from app.security.openapi import document_security
from app.security.ratelimit import RateLimiter
from app.security.repositories import ApiKeyRepository

__all__ = [
    "Principal",
    "bind_refusal",
    "check_startup",
    "document_security",
    "install_security",
    "key_status",
]

log = logging.getLogger(__name__)

OPEN_MODE_WARNING = (
    "no API key exists: open mode, every request is allowed without a key, and only on "
    f"loopback addresses; create a key to require keys: {CREATE_HINT}"
)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Add the authentication and idempotency middleware (before the app starts)."""
    app.state.rate_limiter = limiter = RateLimiter(settings.rate_limit_per_minute)
    app.add_middleware(IdempotencyMiddleware, settings=settings)
    app.add_middleware(AuthMiddleware, settings=settings, limiter=limiter)  # runs first


def bind_refusal(host: str, active_key: bool) -> str | None:
    """Why the service must not listen on `host`, or None when it may."""
    if active_key or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host}: no active API key exists, so anyone who can reach it "
        f"could use the API. Create a key first ({CREATE_HINT}) or set HOST=127.0.0.1"
    )


def key_status(settings: Settings) -> tuple[bool, bool]:
    """(any key was ever created, any key is active), on a short-lived engine of its own."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            repo = ApiKeyRepository(session)
            return repo.any_exist(), repo.any_active()
    finally:
        engine.dispose()


def check_startup(settings: Settings) -> None:
    """Refuse a non-loopback HOST while no key is active; log a warning in open mode."""
    try:
        exist, active = key_status(settings)
    except SQLAlchemyError as exc:  # the database may come up later: /readyz reports it
        log.warning("API keys not checked at start-up: %s", exc)
        return
    if refusal := bind_refusal(settings.host, active):
        raise RuntimeError(refusal)
    if not exist:
        log.warning(OPEN_MODE_WARNING)
