"""Example problem documents for /openapi.json: every error status of every operation shows
documents the service really sends there, built from the same exceptions (type, title) and
wording the routes use, so the docs cannot show a 404 under a 429."""

from typing import Any

from app.api.errors import DATABASE_UNAVAILABLE, PROBLEM_JSON, error_body, problem_body
from app.api.errors import validation_body as _validation
from app.api.middleware.idempotency import is_idempotent
from app.errors import (
    AppError,
    Conflict,
    Gone,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InsufficientScope,
    InvalidInput,
    LoopbackOnly,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RobotsDisallowed,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
    UpstreamError,
    UpstreamTimeout,
    UriTooLong,
)
from app.fetching.policy import address_refused
from app.parsing.html.page import NO_BODY
from app.security.keys import CREATE_HINT, required_scope

Doc = dict[str, Any]
ARTICLE = "https://example.com/news/2026/11/storm-closes-ports"


def _invalid(loc: str, msg: str, type_: str = "value_error") -> list[Doc]:
    """The 422 for one invalid parameter; `loc` as the detail shows it ("query.limit")."""
    return [_validation([{"loc": loc.split(".") if loc else [], "msg": msg, "type": type_}])]


_AT_LEAST_1 = ("Input should be greater than or equal to 1", "greater_than_equal")


def _docs(*errors: AppError | Doc) -> list[Doc]:
    return [e if isinstance(e, dict) else error_body(e) for e in errors]


_CURSOR = InvalidInput("cursor is not valid: pass back a next_cursor unchanged")
# What any route may answer (the query-string checks run on all of them).
COMMON: dict[int, list[Doc]] = {
    400: _docs(InvalidInput("query string contains NUL (%00), which is not allowed")),
    401: _docs(Unauthorized("send an API key: `Authorization: Bearer <key>`")),
    404: _docs(NotFound("no article with id 42")),
    414: _docs(UriTooLong("query string is 40002 bytes; the limit is 32768")),
    422: _invalid("path.article_id", *_AT_LEAST_1),
    429: _docs(RateLimited("more than 600 requests a minute; retry in 2 s", retry_after=2)),
    503: [problem_body(*DATABASE_UNAVAILABLE)],
}
# Where a family of routes answers a status differently.
FAMILIES: dict[str, dict[int, list[Doc]]] = {
    "listing": {
        400: _docs(_CURSOR, InvalidInput('search query has an unbalanced quote (")')),
        422: _invalid(
            "query.limit", "Input should be less than or equal to 200", "less_than_equal"
        ),
    },
    "changes": {
        400: _docs(
            _CURSOR, InvalidInput("cursor and since are one parameter under two names: send one")
        ),
        422: _invalid(
            "query.limit", "Input should be less than or equal to 1000", "less_than_equal"
        ),
    },
    "export": {
        422: _invalid("query.format", "Input should be 'jsonl' or 'csv'", "literal_error"),
    },
    "revision": {
        404: _docs(NotFound("article 42 has no revision 3 (it has 2)")),
        422: _invalid("path.number", *_AT_LEAST_1),
    },
    "reextract": {
        409: _docs(
            Conflict(
                "article 42 has no stored page to re-extract (it was not ingested from HTML "
                "or a URL)"
            )
        ),
    },
    "ingest": {
        400: _docs(
            address_refused("127.0.0.1", "127.0.0.1", "loopback"),
            InvalidInput("body is not valid JSON: Expecting value at position 0"),
        ),
        403: _docs(RobotsDisallowed(f"robots.txt of the site disallows {ARTICLE}")),
        410: _docs(
            Gone(
                "this article was deleted (it was article 42); send it again with "
                "?restore=true to store it anyway"
            )
        ),
        413: _docs(PayloadTooLarge("request body is 3145728 bytes; the limit is 2097152")),
        415: _docs(
            UnsupportedMediaType(
                "Content-Type 'application/xml' is not accepted: send text/plain, text/html "
                "or application/json"
            )
        ),
        422: _docs(Unprocessable(NO_BODY))
        + _invalid("", "an article needs text, html, both headline and body, or a url to fetch"),
        502: _docs(UpstreamError("upstream answered HTTP 500", reason="http-status")),
        504: _docs(UpstreamTimeout(f"timed out fetching {ARTICLE}")),
    },
    "feeds": {
        400: _docs(_CURSOR, address_refused("127.0.0.1", "127.0.0.1", "loopback")),
        403: _docs(RobotsDisallowed("robots.txt of the site disallows https://example.com/feed")),
        404: _docs(NotFound("no feed with id 42")),
        409: _docs(Conflict("the feed is paused: resume it first (PATCH state=active)")),
        413: _docs(PayloadTooLarge("request body exceeds the limit of 2097152 bytes")),
        422: _docs(
            Unprocessable("the URL is neither a feed, a sitemap nor an HTML page"),
            Unprocessable("not an OPML document: its root element is not <opml>"),
        )
        + _invalid("path.feed_id", *_AT_LEAST_1),
        502: _docs(UpstreamError("upstream answered HTTP 500", reason="http-status")),
        504: _docs(UpstreamTimeout("timed out fetching https://example.com/feed")),
    },
    "jobs": {
        400: _docs(_CURSOR),
        404: _docs(NotFound("no job with id 42")),
        409: _docs(Conflict("job 42 is done already: there is nothing to cancel")),
        422: _invalid("path.job_id", *_AT_LEAST_1),
    },
    "imports": {
        400: _docs(
            InvalidInput("the NDJSON body has no items"),
            InvalidInput("the body has no items"),  # with Prefer: respond-async
        ),
        413: _docs(PayloadTooLarge("request body exceeds the limit of 67108864 bytes")),
        415: _docs(
            UnsupportedMediaType(
                'send application/json ({"items": [...]}) or application/x-ndjson (one item a line)'
            )
        ),
        422: _docs(Unprocessable('expected a JSON object {"items": [...]}')),
    },
}


def _family(method: str, path: str) -> str:
    if path.startswith("/v1/feeds"):
        return "feeds"
    if path.startswith("/v1/jobs"):
        return "jobs"
    if path == "/v1/articles":
        return "ingest" if method == "POST" else "listing"
    if path.endswith("/reextract"):
        return "reextract"
    if "/revisions/{number}" in path:
        return "revision"
    return {"/v1/imports": "imports", "/v1/changes": "changes", "/v1/export": "export"}.get(
        path, "common"
    )


def examples_for(method: str, path: str, status: int) -> list[Doc]:
    """The problem documents this operation sends with this status."""
    found = list(FAMILIES.get(_family(method, path), {}).get(status, COMMON.get(status, [])))
    if status == 403:
        found += _docs(_forbidden(method, path))
    if is_idempotent(method, path) and status in (409, 422):
        reused = IdempotencyKeyReused(
            "this Idempotency-Key was first used with a different request (path, query, "
            "Content-Type or body); send a new key for a new request"
        )
        running = IdempotencyInProgress(
            "a request with this Idempotency-Key is in progress; retry when it has finished"
        )
        found += _docs(running if status == 409 else reused)
    return found


def _forbidden(method: str, path: str) -> AppError:
    """Every key may read: a read is refused only in open mode, from the network."""
    needed = required_scope(method, path)
    if needed == "read":
        return LoopbackOnly(
            "no API key exists yet, so this service answers on loopback only; "
            f"create one with `{CREATE_HINT}` and send it as a bearer token"
        )
    held = "read" if needed == "write" else "write"
    return InsufficientScope(
        f"this request needs the {needed!r} scope; key 'crawler' has {held!r}", scope=str(needed)
    )


def add_problem_examples(schema: dict[str, Any]) -> None:
    """Give every problem response of every operation its examples, named by problem type."""
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                media = response.get("content", {}).get(PROBLEM_JSON)
                if media is not None and code.isdigit():
                    docs = examples_for(method.upper(), path, int(code))
                    media["examples"] = {
                        _name(d, docs): {"summary": d["title"], "value": d} for d in docs
                    }


def _name(doc: Doc, docs: list[Doc]) -> str:
    """The problem type, numbered when two examples share it."""
    name = str(doc["type"]).rsplit("/", 1)[-1]
    same = [d for d in docs if d["type"] == doc["type"]]
    return name if len(same) == 1 else f"{name}-{same.index(doc) + 1}"
