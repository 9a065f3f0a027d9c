"""GET /v1/articles: the newest-first listing, URL lookup, and ranked full-text search."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.api.deps import ReadSession
from app.api.errors import problem_responses
from app.api.filters import ListFilters
from app.api.render import json_response
from app.pagination import decode_cursor, encode_cursor
from app.parsing.urls import normalize_url
from app.repositories import ArticleRepository
from app.schemas import ArticlePage
from app.search import search_articles

router = APIRouter(prefix="/v1/articles", tags=["articles"])


@router.get(
    "",
    summary="List or search articles",
    response_model=ArticlePage,
    responses=problem_responses(400, 422),
)
def list_articles(
    session: ReadSession,
    filters: ListFilters,
    q: Annotated[
        str | None,
        Query(
            max_length=500,
            description='Full-text search: words (all must match, stemmed), "a phrase", '
            "prefix*, -excluded. Results are ranked, each with a highlighted snippet.",
            examples=["militias drones"],
        ),
    ] = None,
    url: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="Only the article known by this URL: as given, after redirects, "
            "rel=canonical or og:url; tracking parameters, www., AMP and scheme ignored.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> Any:
    """Newest first, or best match first with `q`; follow `next_cursor` until it is null."""
    repo = ArticleRepository(session)
    if url is not None:
        key = normalize_url(url)
        found = repo.get_by_url_key(key) if key else None
        return json_response(ArticlePage, {"items": [found] if found else [], "next_cursor": None})
    if q is not None:
        # Validated once, in search_articles: a Response, so FastAPI does not validate again.
        hits = search_articles(session, q, filters, limit, cursor)
        return Response(hits.model_dump_json(), media_type="application/json")
    before = decode_cursor(cursor, {"before": int})["before"] if cursor else None
    page = repo.list_page(limit=limit, before_id=before, filters=filters)
    next_cursor = encode_cursor({"before": page.items[-1]["id"]}) if page.has_more else None
    return json_response(ArticlePage, {"items": page.items, "next_cursor": next_cursor})
