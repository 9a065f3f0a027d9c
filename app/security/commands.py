"""`news-archive keys create | list | revoke` (click commands, registered in `app.cli`), and
the check `serve` makes before binding."""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, session_scope, writer
from app.models import ApiKey, utcnow
from app.security import bind_refusal, key_status
from app.security.keys import SCOPES, issue_key
from app.security.repositories import ApiKeyRepository

COLUMNS = ("id", "name", "scope", "prefix", "created", "last used", "revoked")


@click.group("keys")
def keys() -> None:
    """Create, list or revoke API keys (in DATABASE_URL's database)."""


@keys.command("create", short_help="Create a key and print it (shown this once only).")
@click.option("--name", required=True, help="Who or what uses the key, e.g. crawler-eu.")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default="read",
    show_default=True,
    help="read: GET every /v1 route; write: read plus POST; admin: everything.",
)
def create_command(name: str, scope: str) -> None:
    """Create a key and print it on stdout (shown this once only: only its hash is kept)."""
    with _writer() as factory:
        _create(factory, name, scope)


@keys.command("list", short_help="List keys (never the keys themselves).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key and line.")
def list_command(as_json: bool) -> None:
    """List keys: id, name, scope, prefix, created, last used, revoked (never the keys)."""
    with _writer() as factory, session_scope(factory) as session:
        _list(ApiKeyRepository(session).list_all(), as_json)


@keys.command("revoke", short_help="Revoke a key at once, by id or name.")
@click.argument("key")
def revoke_command(key: str) -> None:
    """Revoke KEY (a key's id or name) at once: it is refused from then on."""
    with _writer() as factory, session_scope(factory) as session:
        _revoke(ApiKeyRepository(session), key)


@contextmanager
def _writer() -> Iterator[sessionmaker[Session]]:
    engine = make_engine(get_settings())
    try:
        yield make_sessionmaker(writer(engine))
    finally:
        engine.dispose()


def _create(factory: sessionmaker[Session], name: str, scope: str) -> None:
    try:
        with session_scope(factory) as session:
            row, raw = issue_key(session, name, scope)
    except IntegrityError:
        raise SystemExit(f"a key named {name!r} exists already: pick another name") from None
    print(raw)  # printed once stored; alone on stdout: KEY=$(python -m app keys create ...)
    print(
        f"created API key {row.id} {name!r} with scope {scope!r}; keep it now: only its hash "
        "is stored, it cannot be shown again",
        file=sys.stderr,
    )


def _list(keys: list[ApiKey], as_json: bool) -> None:
    if as_json:
        for key in keys:
            print(json.dumps(_document(key), ensure_ascii=False))
        return
    rows = [list(COLUMNS), *(_row(key) for key in keys)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _document(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "scope": key.scope,
        "prefix": key.prefix,
        "created_at": _iso(key.created_at),
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _row(key: ApiKey) -> list[str]:
    revoked = _when(key.revoked_at) if key.revoked_at else "no"
    created, used = _when(key.created_at), _when(key.last_used_at)
    return [str(key.id), key.name, key.scope, f"{key.prefix}…", created, used, revoked]


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%SZ") if at else "never"


def _revoke(repo: ApiKeyRepository, ref: str) -> None:
    key = repo.get_by_id_or_name(ref)
    if key is None:
        raise SystemExit(f"no API key with id or name {ref!r}")
    if key.revoked_at is not None:
        print(f"API key {key.id} {key.name!r} was revoked already, at {_when(key.revoked_at)}")
        return
    key.revoked_at = utcnow()
    print(f"revoked API key {key.id} {key.name!r}: it is refused from now on")


def refuse_unsafe_bind(settings: Settings) -> None:
    """Exit (status 1, with the reason) if HOST is not loopback while no key is active."""
    if refusal := bind_refusal(settings.host, key_status(settings)[1]):
        raise SystemExit(refusal)
