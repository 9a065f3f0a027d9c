"""`python -m app keys create | list | revoke`, and the check `serve` makes before binding."""

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_sessionmaker, session_scope, writer
from app.models import ApiKey, utcnow
from app.security import bind_refusal, key_status
from app.security.keys import SCOPES, issue_key
from app.security.repositories import ApiKeyRepository

COLUMNS = ("id", "name", "scope", "prefix", "created", "last used", "revoked")


def add_keys_parser(commands: Any) -> None:
    """The `keys` command and its subcommands, on the CLI's subparsers."""
    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--name", required=True, help="who or what uses it, e.g. crawler-eu")
    create.add_argument("--scope", choices=SCOPES, default="read")
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = actions.add_parser("revoke", help="revoke a key at once, by id or name")
    revoke.add_argument("key", help="the key's id or name")


def run_keys(settings: Settings, args: argparse.Namespace) -> None:
    engine = make_engine(settings)
    factory = make_sessionmaker(writer(engine))
    try:
        if args.action == "create":
            _create(factory, args.name, args.scope)
            return
        with session_scope(factory) as session:
            if args.action == "list":
                _list(ApiKeyRepository(session).list_all(), args.json)
            else:
                _revoke(ApiKeyRepository(session), args.key)
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
