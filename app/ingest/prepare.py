"""Turn raw input into articles ready to store: parse text, fields or HTML; fetch URLs."""

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import AppError, FetchError, Unprocessable, UpstreamTimeout
from app.fetching import FetchedPage, Fetcher, check_url
from app.fetching.network import deadline
from app.ingest.aliases import alias_urls
from app.models import utcnow
from app.neardup import DEFAULT as NEAR_DUPLICATES
from app.neardup import Signature
from app.parsing.html import extract_article
from app.parsing.seed_text import parse_seed_text
from app.parsing.structured import caller_overrides, parse_fields
from app.parsing.urls import normalize_url
from app.repositories import ArticleRepository
from app.schemas import MAX_URL, ArticleIn, NormalizedArticle

# One extraction at a time per process. Extraction is CPU work under the GIL, and lxml lets
# the GIL go around each parse and XPath call: two threads extracting at once hand it back
# and forth hundreds of times a page, and the kernel's thread switches cost a fifth of a
# worker's CPU (measured with perf, bench/feeds.py). Fetches and database work still overlap.
_EXTRACTING = threading.Lock()


@dataclass(frozen=True)
class Snapshot:
    """The bytes an article was extracted from, kept for re-extraction and conditional GET."""

    url: str | None
    final_url: str | None
    fetched_at: datetime
    content_type: str | None
    charset: str | None
    etag: str | None
    last_modified: str | None
    raw: bytes


@dataclass(frozen=True)
class Prepared:
    """An article ready to store, with every URL it is known by."""

    article: NormalizedArticle
    urls: tuple[str, ...] = ()
    snapshot: Snapshot | None = None

    @cached_property
    def digest(self) -> str:
        return self.article.content_hash

    @cached_property
    def signature(self) -> Signature:
        return NEAR_DUPLICATES.signature(self.article.body)

    @cached_property
    def identity(self) -> list[str]:
        """Keys that name this article: its content hash and its normalized URLs."""
        return [f"hash:{self.digest}", *(f"url:{k}" for k in self.url_keys)]

    @cached_property
    def url_keys(self) -> dict[str, str]:
        """Normalized URL -> the URL as seen, for every URL of the article."""
        keys: dict[str, str] = {}
        for url in self.urls:
            # A URL, or its key (percent-encoding can make it the longer), that outgrows its
            # column cannot be an alias; the article still keeps it as its `url`.
            if url and len(url) <= MAX_URL and (key := normalize_url(url)) and len(key) <= MAX_URL:
                keys.setdefault(key, url)
        return keys


@dataclass(frozen=True)
class Unchanged:
    """A fetched page that has not changed since the last fetch (HTTP 304)."""

    article_id: int


Item = Prepared | Unchanged | AppError
_Ready = TypeVar("_Ready", Prepared, Unchanged, Prepared | Unchanged)
# (normalized URL, URL) -> (article id, ETag, Last-Modified) of the stored article whose last
# fetch was of exactly that URL, or None: a database read, done in a session of its own.
LastFetchLookup = Callable[[str, str], tuple[int, str | None, str | None] | None]
# Told the reason label of each failed fetch (FetchError.reason): the app counts them in its
# metrics; ingest itself knows nothing of metrics or HTTP servers.
OnFetchFailure = Callable[[str], None]


def ignore_fetch_failure(reason: str) -> None:
    """The default OnFetchFailure: nothing counts fetches (the CLI, tests)."""


# Held around each fetch, given the URL: background jobs take their host's request slot in the
# database with it (app/feeds/politeness.py), for the fetch alone, not the extraction after.
RequestSlot = Callable[[str], AbstractContextManager[None]]


def no_request_slot(url: str) -> AbstractContextManager[None]:
    """The default RequestSlot: none (the per-process host slots still hold)."""
    return nullcontext()


@dataclass
class FetchContext:
    """What fetching needs: the fetcher, a bounded pool, and a lookup in the database of what
    the last fetch of a URL stored (its HTTP validators, for a conditional GET)."""

    fetcher: Fetcher
    last_fetch: LastFetchLookup
    pool: ThreadPoolExecutor
    per_host: int = 2
    on_fetch_failure: OnFetchFailure = ignore_fetch_failure
    request_slot: RequestSlot = no_request_slot
    _hosts: dict[str, threading.Semaphore] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def host_slot(self, url: str) -> threading.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            return self._hosts.setdefault(host, threading.Semaphore(self.per_host))


def make_fetch_context(
    fetcher: Fetcher,
    pool: ThreadPoolExecutor,
    sessions: sessionmaker[Session],
    per_host: int,
    on_fetch_failure: OnFetchFailure = ignore_fetch_failure,
) -> FetchContext:
    """A FetchContext whose last-fetch lookups use short read sessions of their own."""

    def last_fetch(url_key: str, url: str) -> tuple[int, str | None, str | None] | None:
        with sessions() as session:
            return ArticleRepository(session).fetch_validators(url_key, url)

    return FetchContext(fetcher, last_fetch, pool, per_host, on_fetch_failure)


def parse_item(item: ArticleIn) -> NormalizedArticle:
    """Seed text, JSON fields or HTML as a normalized article; raises AppError."""
    if item.kind == "fields":
        return parse_fields(item)
    if item.kind == "text":
        return caller_overrides(item, parse_seed_text(item.text or ""))
    if item.kind == "html":
        return caller_overrides(item, extract_article(item.html or "", item.url))
    raise Unprocessable("a URL to fetch needs the fetcher: use prepare()")


def prepare(raw: Any, context: FetchContext | None) -> Item:
    """One raw item (decoded JSON or an ArticleIn) ready to store, or its error."""
    if isinstance(raw, AppError | Prepared | Unchanged):
        return raw
    try:
        return prepare_one(raw, context)
    except AppError as exc:
        return exc


def prepare_one(raw: Any, context: FetchContext | None) -> Prepared | Unchanged:
    """One raw item (decoded JSON or an ArticleIn) ready to store; raises AppError."""
    try:
        item = raw if isinstance(raw, ArticleIn) else ArticleIn.model_validate(raw)
        if item.kind == "fetch":
            if context is None:
                raise Unprocessable("fetching URLs is not available here")
            return _computed(_fetch(item, context))
        prepared = _computed(_prepared(item, parse_item(item)))
    except ValidationError as exc:
        raise Unprocessable(describe(exc)) from None
    if item.content_hash and item.content_hash != prepared.digest:
        raise Unprocessable(
            "content_hash does not match the normalized headline and body "
            f"(computed {prepared.digest})"
        )
    return prepared


def _computed(item: _Ready) -> _Ready:
    """Compute the hash, URL keys and signature now, while no write transaction waits on
    them: preparing runs beside the previous chunk's write, storing holds the write lock."""
    if isinstance(item, Prepared):
        _ = item.identity, item.signature
    return item


def prepare_all(raws: Sequence[Any], context: FetchContext | None) -> list[Item]:
    """Prepare a batch in order; URL items are fetched concurrently on the context's pool."""
    fetches = {i for i, raw in enumerate(raws) if wants_fetch(raw)}
    if not fetches or context is None:
        return [prepare(raw, context) for raw in raws]
    futures = {i: context.pool.submit(prepare, raws[i], context) for i in fetches}
    return [
        futures[i].result() if i in futures else prepare(raw, context) for i, raw in enumerate(raws)
    ]


def wants_fetch(raw: Any) -> bool:
    """Whether a raw item is a URL to fetch (a URL and no text, HTML or body of its own)."""
    if isinstance(raw, ArticleIn):
        return raw.kind == "fetch"
    return isinstance(raw, dict) and "url" in raw and not raw.keys() & {"text", "html", "body"}


def _prepared(item: ArticleIn, article: NormalizedArticle) -> Prepared:
    if item.kind == "html":
        html = (item.html or "").encode()
        snapshot = Snapshot(item.url, None, utcnow(), "text/html", "utf-8", None, None, html)
        return Prepared(article, alias_urls(article), snapshot)
    return Prepared(article, alias_urls(article))


def _fetch(item: ArticleIn, context: FetchContext) -> Prepared | Unchanged:
    url = item.url or ""
    key = normalize_url(url)
    known = context.last_fetch(key, url) if key else None
    etag, modified = (known[1], known[2]) if known else (None, None)
    try:
        # Checked first: the host slot parses the URL too, and one that does not parse
        # (an unclosed `[`) must be this item's 400, not an exception.
        checked = check_url(url, context.fetcher.limits)
        with context.request_slot(checked), _host_slot(context, checked):
            page = context.fetcher.fetch(url, etag=etag, last_modified=modified)
    except FetchError as exc:
        context.on_fetch_failure(exc.reason)
        raise
    if page.not_modified and known:
        return Unchanged(known[0])
    with _EXTRACTING:
        article = extract_article(page.body, page.final_url, charset=page.charset)
    article = caller_overrides(item, article.model_copy(update={"url": url}))
    # The final URL's site served the page: it vouches for the URLs on that site only (an
    # off-site redirect's source is not an alias: that site could serve its own text later).
    urls = alias_urls(article, served_by=page.final_url, requested=(url, page.url))
    return Prepared(article, urls, _snapshot(url, page))


@contextmanager
def _host_slot(context: FetchContext, url: str) -> Iterator[None]:
    """One of the site's fetch slots. The wait for it counts against the fetch's total time
    limit, so a site that hangs delays its other callers by that limit at most."""
    limit = context.fetcher.limits.total_timeout
    slot = context.host_slot(url)
    with deadline(limit):
        if not slot.acquire(timeout=limit):
            raise UpstreamTimeout(
                f"{context.per_host} fetches from this site were already running and none "
                f"finished within {limit:g} s",
                reason="host-busy",
            )
        try:
            yield
        finally:
            slot.release()


def _snapshot(url: str, page: FetchedPage) -> Snapshot:
    # What the upstream sent goes into bounded columns (page_snapshot): a value too long for
    # its column is not kept (no conditional GET next time, the charset sniffed again).
    return Snapshot(
        url=url,
        final_url=_fit(page.final_url, MAX_URL),
        fetched_at=utcnow(),
        content_type=_fit(page.content_type, 255),
        charset=_fit(page.charset, 64),
        etag=_fit(page.etag, 1024),
        last_modified=_fit(page.last_modified, 255),
        raw=page.body,
    )


def _fit(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else None


def describe(exc: ValidationError) -> str:
    """The first validation error as one readable sentence."""
    first = exc.errors(include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "model_type":
        message = "an item must be a JSON object"
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {message}" if where else message
