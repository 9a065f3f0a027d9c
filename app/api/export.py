"""GET /v1/export: the whole archive, or a filtered part, streamed as JSONL or CSV."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session, sessionmaker

from app.api.errors import problem_responses
from app.api.filters import ListFilters
from app.exporting import MEDIA_TYPES, Format, lines
from app.repositories import ArticleRepository, Filters

router = APIRouter(tags=["export"])


@router.get(
    "/v1/export",
    summary="Export articles",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "JSONL: one import item per line (POST it to /v1/imports to copy "
            "the archive). CSV: one row per article, lists joined with '; '.",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        },
        **problem_responses(422),
    },
)
def export_articles(
    request: Request,
    filters: ListFilters,
    format: Annotated[Format, Query(description="jsonl or csv.")] = "jsonl",
) -> StreamingResponse:
    """Oldest first, streamed from the database without loading it into memory."""
    body = _stream(request.app.state.sessions, filters, format)
    filename = f"articles.{format}"
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _stream(factory: sessionmaker[Session], filters: Filters, fmt: Format) -> Iterator[str]:
    # Its own session: the response streams after the request's session has closed.
    with factory() as session:
        yield from lines(ArticleRepository(session).export_rows(filters), fmt)
