"""Batch import: a JSON list of up to 1,000 items, or a streamed NDJSON body of any length."""

import asyncio
import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.api.body import is_json, lines, media_type, parse_json, read_limited
from app.api.deps import Restore
from app.api.errors import problem_responses
from app.db import checkpoint_if_large, session_scope
from app.errors import InvalidInput, Unprocessable, UnsupportedMediaType
from app.ingest import STATUSES, FetchContext, Item, Outcome, prepare_all, store
from app.ingest.processes import PreparePool
from app.observability import record_outcomes

Prepare = Callable[[list[Any], FetchContext], list[Item]]

router = APIRouter(prefix="/v1/imports", tags=["imports"])

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ImportRequest"}},
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": '{"text": "Headline\\n\\nBody."}\n{"headline": "H", "body": "B"}\n',
            },
        },
    }
}


@router.post(
    "",
    summary="Import a batch of articles",
    responses={
        200: {
            "description": "One result per item, in order, and the counts.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ImportResponse"}}
            },
        },
        **problem_responses(400, 413, 415, 422, 503),
    },
    openapi_extra=_IMPORT_BODY,
)
async def import_articles(request: Request, restore: Restore = False) -> StreamingResponse:
    """Store every item it can; each result says created, duplicate (with the id) or error."""
    kind, _ = media_type(request)
    settings = request.app.state.settings
    state = request.app.state
    write = partial(_write, state.write_sessions, restore)
    if kind in NDJSON_TYPES:
        outcomes = await _import_ndjson(request, state.fetch_context, state.prepare_pool, write)
    elif is_json(kind):
        body = await read_limited(request, settings.max_import_bytes)
        items = await run_in_threadpool(_json_items, body, settings)  # CPU: off the event loop
        prepared = await run_in_threadpool(prepare_all, items, state.fetch_context)
        outcomes = await run_in_threadpool(write, prepared)
    else:
        raise UnsupportedMediaType(
            'send application/json ({"items": [...]}) or application/x-ndjson (one item a line)'
        )
    record_outcomes(outcomes)
    return StreamingResponse(_render(outcomes), media_type="application/json")


def _json_items(body: bytes, settings: Any) -> list[Any]:
    document = parse_json(body)
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise Unprocessable('expected a JSON object {"items": [...]}')
    if unknown := sorted(set(document) - {"items"}):
        raise Unprocessable(f"unknown field {unknown[0]!r}: the body has only 'items'")
    items: list[Any] = document["items"]
    if len(items) > settings.max_import_items:
        raise Unprocessable(
            f"{len(items)} items: at most {settings.max_import_items} per request "
            "(stream larger imports as application/x-ndjson)"
        )
    return items


async def _import_ndjson(
    request: Request,
    context: FetchContext,
    pool: PreparePool | None,
    write: Callable[[list[Item]], list[Outcome]],
) -> list[Outcome]:
    """Store the stream chunk by chunk, each chunk in its own transaction. Chunk n+1 is
    parsed (and its URLs fetched) while chunk n is written. The first chunk is parsed in
    the server; later ones, when there is a pool, in its worker processes, so that parsing
    and writing do not take turns on one GIL."""
    settings = request.app.state.settings
    outcomes: list[Outcome] = []
    chunk: list[bytes] = []  # raw lines: decoded with the chunk's parsing, in a thread
    writing: asyncio.Future[list[Outcome]] | None = None
    prepare: Prepare = prepare_all
    try:
        async for line in lines(request, settings.max_body_bytes, settings.max_ndjson_bytes):
            chunk.append(line)
            if len(chunk) >= settings.import_chunk_size:
                writing = await _hand_over(chunk, context, prepare, write, writing, outcomes)
                chunk = []
                prepare = pool.prepare_all if pool is not None else prepare_all
        if chunk:
            writing = await _hand_over(chunk, context, prepare, write, writing, outcomes)
        if writing is not None:
            outcomes += await writing
            writing = None
    finally:
        if writing is not None:  # the request failed mid-stream: let the last write finish
            await asyncio.wait([writing])
    if not outcomes:
        raise InvalidInput("the NDJSON body has no items")
    return outcomes


async def _hand_over(
    chunk: list[bytes],
    context: FetchContext,
    prepare: Prepare,
    write: Callable[[list[Item]], list[Outcome]],
    writing: "asyncio.Future[list[Outcome]] | None",
    outcomes: list[Outcome],
) -> "asyncio.Future[list[Outcome]]":
    """Prepare `chunk` while the previous chunk is written, then start writing it."""
    items = await run_in_threadpool(_decode_lines, chunk)
    prepared = await run_in_threadpool(prepare, items, context)
    if writing is not None:
        outcomes += await writing
    return asyncio.ensure_future(run_in_threadpool(write, prepared))


def _decode_lines(chunk: list[bytes]) -> list[Any]:
    return [_decode_line(line) for line in chunk]


def _decode_line(line: bytes) -> Any:
    try:
        return parse_json(line)
    except InvalidInput as exc:
        return exc  # this item's error; the others still go in


def _write(factory: sessionmaker[Session], restore: bool, prepared: list[Item]) -> list[Outcome]:
    """Store prepared items in one transaction (nothing is fetched while it is open)."""
    with session_scope(factory) as session:
        outcomes = store(session, prepared, restore=restore)
    checkpoint_if_large(factory.kw["bind"])
    return outcomes


def _render(outcomes: list[Outcome], per_chunk: int = 2000) -> Iterator[str]:
    """The response JSON, a few thousand results per chunk: small memory, few thread hops."""
    counts = dict.fromkeys(STATUSES, 0)
    yield '{"results":['
    for start in range(0, len(outcomes), per_chunk):
        parts = []
        for index, outcome in enumerate(outcomes[start : start + per_chunk], start):
            counts[outcome.status] += 1
            result: dict[str, Any] = {"index": index, "status": outcome.status}
            if outcome.article_id is not None:
                result["id"] = outcome.article_id
            if outcome.error is not None:
                result["error"] = outcome.error
            parts.append(json.dumps(result))
        yield ("," if start else "") + ",".join(parts)
    yield '],"counts":' + json.dumps(counts) + "}"
