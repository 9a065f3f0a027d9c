"""Batch import: a JSON list of up to 1,000 items, or a streamed NDJSON body of any length.
The pipeline is `app.ingest.batch`; this module reads the body and renders the results."""

import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import Restore
from app.api.errors import problem_responses
from app.api.import_stream import NDJSON, ImportStream, result_line
from app.api.jobs import prefers_async, start_import_job
from app.api.request_bodies import is_json, lines, media_type, read_limited
from app.errors import Unprocessable, UnsupportedMediaType
from app.ingest import Outcome
from app.ingest.batch import Importer, new_counts, tally
from app.job_schemas import JobRead
from app.observability import record_outcomes
from app.parsing.jsondoc import parse_json

router = APIRouter(prefix="/v1/imports", tags=["imports"])

NDJSON_TYPES = (NDJSON, "application/jsonl", "application/ndjson")
_NDJSON_RESULTS = (
    "For an NDJSON body: NDJSON, one line per item as each chunk of IMPORT_CHUNK_SIZE items "
    'commits, `{"index", "status", "id"?, "error"?}`, then `{"counts": {...}}`. If the import '
    "stops after results were sent (body over MAX_NDJSON_BYTES, API key revoked, database "
    'down), the last line is `{"error": {problem+json fields}}` instead: the items reported '
    "above are stored, the rest are not. Before any result, errors have their usual status."
)
_ASYNC = (
    "With `Prefer: respond-async` (any body, any size within the same limits): 202 at once "
    "with `Location: /v1/jobs/{id}`; the items are imported in the background by the "
    "workers, and GET /v1/jobs/{id}/results pages through the same per-item results."
)
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ImportRequest"}},
            NDJSON: {
                "schema": {"type": "string"},
                "example": '{"text": "Headline\\n\\nBody."}\n{"headline": "H", "body": "B"}\n',
            },
        },
    }
}


@router.post(
    "",
    summary="Import a batch of articles",
    description=(
        "Store every item it can; each result says created, duplicate (with the id), "
        "updated, unchanged, deleted or error. " + _NDJSON_RESULTS + " " + _ASYNC
    ),
    responses={
        200: {
            "description": "One result per item, in order, and the counts.",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ImportResponse"}},
                NDJSON: {
                    "schema": {"type": "string"},
                    "example": '{"index": 0, "status": "created", "id": 1}\n'
                    '{"index": 1, "status": "error", "error": "not valid JSON"}\n'
                    '{"counts": {"created": 1, "duplicate": 0, "updated": 0, '
                    '"unchanged": 0, "deleted": 0, "error": 1}}\n',
                },
            },
        },
        202: {
            "model": JobRead,
            "description": "With `Prefer: respond-async`: the import is a job, queued.",
            "headers": {
                "Location": {"description": "/v1/jobs/{id}", "schema": {"type": "string"}},
                "Preference-Applied": {"schema": {"type": "string", "enum": ["respond-async"]}},
            },
        },
        **problem_responses(400, 413, 415, 422, 503),
    },
    openapi_extra=_IMPORT_BODY,
)
async def import_articles(
    request: Request,
    restore: Restore = False,
    prefer: Annotated[
        str | None,
        Header(
            description="`respond-async`: answer 202 at once with the job that imports the "
            "items in the background (GET its `Location` to follow it)."
        ),
    ] = None,
) -> Response:
    """Store every item it can; each result says created, duplicate (with the id) or error."""
    kind, _ = media_type(request)
    settings = request.app.state.settings
    if prefer and prefers_async(request):
        return await start_import_job(request, _job_items(request, kind, settings), restore)
    state = request.app.state
    importer = Importer(
        state.write_sessions,
        state.fetch_context,
        state.prepare_pool,
        settings.import_chunk_size,
        restore,
    )
    if kind in NDJSON_TYPES:
        return ImportStream(request, importer, settings.max_body_bytes, settings.max_ndjson_bytes)
    if not is_json(kind):
        raise UnsupportedMediaType(
            'send application/json ({"items": [...]}) or application/x-ndjson (one item a line)'
        )
    body = await read_limited(request, settings.max_import_bytes)
    items = await run_in_threadpool(_json_items, body, settings)  # CPU: off the event loop
    outcomes = await importer.store_all(items)
    record_outcomes(outcomes)
    return StreamingResponse(_render(outcomes), media_type="application/json")


async def _job_items(request: Request, kind: str, settings: Any) -> AsyncIterator[bytes]:
    """The body's items as the bytes of one JSON value each, with the limits of a
    synchronous import: NDJSON lines as they arrive, or the items of a JSON body."""
    if kind in NDJSON_TYPES:
        async for line in lines(request, settings.max_body_bytes, settings.max_ndjson_bytes):
            yield line
        return
    if not is_json(kind):
        raise UnsupportedMediaType(
            'send application/json ({"items": [...]}) or application/x-ndjson (one item a line)'
        )
    body = await read_limited(request, settings.max_import_bytes)
    encoded = await run_in_threadpool(_encoded_items, body, settings)
    for item in encoded:
        yield item


def _encoded_items(body: bytes, settings: Any) -> list[bytes]:
    return [json.dumps(item, ensure_ascii=False).encode() for item in _json_items(body, settings)]


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


def _render(outcomes: list[Outcome], per_chunk: int = 2000) -> Iterator[str]:
    """The response JSON, a few thousand results per chunk: small memory, few thread hops."""
    counts = new_counts()
    yield '{"results":['
    for start in range(0, len(outcomes), per_chunk):
        part = outcomes[start : start + per_chunk]
        tally(counts, part)
        results = (result_line(i, outcome) for i, outcome in enumerate(part, start))
        yield ("," if start else "") + ",".join(json.dumps(result) for result in results)
    yield '],"counts":' + json.dumps(counts) + "}"
