"""What the Idempotency-Key middleware (`app.api.middleware.idempotency`) keeps: a copy of the
first request's fingerprint and response, and the short transactions, each on a worker
thread, that claim a key and settle it.

Takedowns: a route whose response shows an article's text says so (`shows_article`), and the
record keeps that article's id. Deleting the article withdraws the stored response in the
same transaction (`IdempotencyRepository.withdraw_article`): a retry then gets a 410 and
still does not run. A response settled while the delete runs fails the foreign key (and
is withdrawn here) or is removed by its ON DELETE CASCADE: no deleted text stays behind.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message, Scope

from app.db import session_scope
from app.models import IdempotencyRecord, utcnow
from app.repositories import IdempotencyRepository

FINGERPRINT_HEADERS = (b"content-type", b"content-location")
KEPT_HEADERS = frozenset(
    {b"content-type", b"location", b"content-location", b"x-fetch-status", b"preference-applied"}
)
SHOWN_ARTICLE = "idempotency.shown_article"  # in scope["state"]


def shows_article(scope: Scope, article_id: int) -> None:
    """Note that this response shows the article's text, so that deleting the article
    withdraws a stored copy of it."""
    scope.setdefault("state", {})[SHOWN_ARTICLE] = article_id


def request_hasher(scope: Scope) -> Any:
    headers = dict(scope.get("headers", ()))
    hasher = hashlib.sha256()
    for name in FINGERPRINT_HEADERS:
        hasher.update(name + b": " + headers.get(name, b"") + b"\r\n")
    # `Prefer: respond-async` makes an import a background job: another request. Hashed only
    # when sent, so that the fingerprints of requests without it stay what they were.
    if (prefer := headers.get(b"prefer")) is not None:
        hasher.update(b"prefer: " + prefer + b"\r\n")
    hasher.update(b"\r\n")
    return hasher


@dataclass
class Capture:
    """What the first request sent and got: body hash, response status, headers, body."""

    hasher: Any
    limit: int
    complete: bool = False  # the whole request body went through the hash
    received: bool = False  # the route asked for the body at all
    status: int = 500
    headers: list[list[str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    article_id: int | None = None  # the article whose text the response shows

    def request(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.hasher.update(message.get("body", b""))
            self.complete = not message.get("more_body", False)

    def response(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in message.get("headers", ())
                if k.lower() in KEPT_HEADERS
            ]
        elif message["type"] == "http.response.body" and self.size <= self.limit:
            chunk = message.get("body", b"")
            self.size += len(chunk)
            if self.size > self.limit:
                self.chunks.clear()  # too large to keep: keep nothing
            else:
                self.chunks.append(chunk)

    @property
    def keepable(self) -> bool:
        return self.complete and self.status < 500 and self.size <= self.limit


def claim(
    factory: sessionmaker[Session], owner: str, key: str, path: str, ttl: timedelta, purge: bool
) -> tuple[IdempotencyRecord | None, bool]:
    """(record, True) when this request claimed the key, else (the existing record, False);
    (None, False) if a concurrent claim vanished meanwhile. Runs in a worker thread."""
    with session_scope(factory) as session:
        repo = IdempotencyRepository(session)
        cutoff = utcnow() - ttl
        if purge:
            repo.remove_expired(cutoff)
        else:
            repo.remove_expired(cutoff, owner, key)
        if (found := repo.get(owner, key)) is not None:
            return found, False
        try:
            with session.begin_nested():
                return repo.add_pending(owner, key, "POST", path), True
        except IntegrityError:
            return repo.get(owner, key), False


def settle(factory: sessionmaker[Session], record_id: int, kept: Capture | None) -> None:
    """Store the first response, or (None) delete the claim so that a retry runs again."""
    with session_scope(factory) as session:
        repo = IdempotencyRepository(session)
        if kept is None:
            repo.remove(record_id)
            return
        digest, body = kept.hasher.hexdigest(), b"".join(kept.chunks)
        try:
            with session.begin_nested():
                repo.complete(record_id, digest, kept.status, kept.headers, body, kept.article_id)
        except IntegrityError:  # the article was deleted meanwhile: keep none of its text
            repo.complete(record_id, digest, 410, None, None)
