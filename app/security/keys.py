"""API keys: how they are made and stored, what each scope allows, and which routes need one.

A key is `na_` + 32 random bytes (256 bits, URL-safe base64), shown once when created. Only
its sha256 is stored. A slow password hash (bcrypt, argon2) exists to make guessing
low-entropy passwords expensive; a 256-bit random key cannot be guessed whatever the hash,
while a slow hash would cost ~50-100 ms of CPU on every request and, being salted, could not
be looked up by an index. A plain sha256 is what GitHub and Stripe do with their tokens.
"""

import hashlib
import ipaddress
import secrets

from sqlalchemy.orm import Session

from app.models import ApiKey
from app.security.repositories import ApiKeyRepository

CREATE_HINT = "python -m app keys create --scope admin --name NAME"
SCOPES = ("read", "write", "admin")  # each scope includes the ones before it
KEY_PREFIX = "na_"
SHOWN_PREFIX = len(KEY_PREFIX) + 8  # what `keys list` shows to tell keys apart

# Always reachable without a key: probes, metrics and the documentation pages.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json"})
OPEN_PREFIXES = ("/static/",)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Deletes that undo nothing a writer could not redo (unsubscribing a feed, cancelling a job)
# need `write`; the others (an article's takedown) `admin`.
WRITE_DELETE_PREFIXES = ("/v1/feeds/", "/v1/jobs/")


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def grants(held: str, needed: str) -> bool:
    """True when a key with scope `held` may call a route that needs `needed`."""
    return held in SCOPES and SCOPES.index(held) >= SCOPES.index(needed)


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for the open routes. Anything not listed needs a
    key, so a route added later is protected by default: reads need `read`, writes `write`,
    DELETE (and any other method) `admin`."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    if method in READ_METHODS:
        return "read"
    if method in WRITE_METHODS or (method == "DELETE" and path.startswith(WRITE_DELETE_PREFIXES)):
        return "write"
    return "admin"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses; False for 0.0.0.0, :: and other names."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def issue_key(session: Session, name: str, scope: str) -> tuple[ApiKey, str]:
    """Store a new key and return it with the raw key, which exists nowhere else."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}: one of {', '.join(SCOPES)}")
    raw = generate_key()
    row = ApiKeyRepository(session).add(name, scope, hash_key(raw), raw[:SHOWN_PREFIX])
    return row, raw
