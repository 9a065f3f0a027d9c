"""Batch import: a JSON list of up to 1,000 items, or a streamed NDJSON body of any length."""

import json
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.api.body import is_json, lines, media_type, parse_json, read_limited
from app.api.deps import Restore
from app.api.errors import problem_responses
from app.db import session_scope
from app.errors import InvalidInput, Unprocessable, UnsupportedMediaType
from app.ingest import STATUSES, FetchContext, Outcome, prepare_all, store
from app.observability import record_outcomes

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
    store_chunk = partial(_store, state.write_sessions, state.fetch_context, restore)
    if kind in NDJSON_TYPES:
        outcomes = await _import_ndjson(request, store_chunk)
    elif is_json(kind):
        items = _json_items(await read_limited(request, settings.max_import_bytes), settings)
        outcomes = await run_in_threadpool(store_chunk, items)
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
    request: Request, store_chunk: Callable[[list[Any]], list[Outcome]]
) -> list[Outcome]:
    """Store the stream chunk by chunk, each chunk in its own transaction."""
    settings = request.app.state.settings
    outcomes: list[Outcome] = []
    chunk: list[Any] = []
    async for line in lines(request, settings.max_body_bytes, settings.max_ndjson_bytes):
        chunk.append(_decode_line(line))
        if len(chunk) >= settings.import_chunk_size:
            outcomes += await run_in_threadpool(store_chunk, chunk)
            chunk = []
    if chunk:
        outcomes += await run_in_threadpool(store_chunk, chunk)
    if not outcomes:
        raise InvalidInput("the NDJSON body has no items")
    return outcomes


def _decode_line(line: bytes) -> Any:
    try:
        return parse_json(line)
    except InvalidInput as exc:
        return exc  # this item's error; the others still go in


def _store(
    factory: sessionmaker[Session], context: FetchContext, restore: bool, items: Sequence[Any]
) -> list[Outcome]:
    """Parse and fetch first (no transaction open while fetching), then store in one."""
    prepared = prepare_all(items, context)
    with session_scope(factory) as session:
        return store(session, prepared, restore=restore)


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
