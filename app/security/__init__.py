"""API keys: how they are made, what each scope allows (`app.security.keys`), their table
(`app.security.repositories`) and the `keys` CLI (`app.security.commands`); and whether the
service may start on its HOST with the keys it has. The middleware that checks keys on each
request is part of the HTTP layer: `app.api.middleware`.
"""

import logging

from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.security.keys import CREATE_HINT, is_loopback
from app.security.repositories import ApiKeyRepository

__all__ = ["bind_refusal", "check_startup", "key_status"]

log = logging.getLogger(__name__)

OPEN_MODE_WARNING = (
    "no API key exists: open mode, every request is allowed without a key, and only on "
    f"loopback addresses; create a key to require keys: {CREATE_HINT}"
)


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
