"""GET /v1/articles: the newest-first listing, URL lookup, and ranked full-text search."""

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from app.api.deps import ReadSession
from app.api.errors import problem_responses
from app.api.filters import ListFilters
from app.api.render import json_response
from app.errors import InvalidInput
from app.pagination import decode_cursor, encode_cursor
from app.parsing.query import parse_query
from app.parsing.snippets import snippet, stemmer
from app.parsing.urls import normalize_url
from app.repositories import ArticleRepository, Filters
from app.schemas import ArticleHit, ArticlePage
from app.search import SearchRepository

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
        return _search(session, repo, q, filters, limit, cursor)
    before = decode_cursor(cursor, {"before": int})["before"] if cursor else None
    page = repo.list_page(limit=limit, before_id=before, filters=filters)
    next_cursor = encode_cursor({"before": page.items[-1]["id"]}) if page.has_more else None
    return json_response(ArticlePage, {"items": page.items, "next_cursor": next_cursor})


def _search(
    session: Session,
    repo: ArticleRepository,
    q: str,
    filters: Filters,
    limit: int,
    cursor: str | None,
) -> Response:
    terms = parse_query(q)
    # The cursor remembers which search it belongs to: reusing it for another is a 400.
    search_id = hashlib.sha256(repr((q, filters)).encode()).hexdigest()[:12]
    after = None
    if cursor:
        position = decode_cursor(cursor, {"score": float, "id": int, "search": str})
        if position["search"] != search_id:
            raise InvalidInput("cursor belongs to a different search: start without it")
        after = (position["score"], position["id"])
    search = SearchRepository(session)
    page = search.search(terms, filters, limit, after)
    stem = stemmer(search.stemming(filters.language))
    articles = {a["id"]: a for a in repo.get_many([h.article_id for h in page.hits])}
    items = [
        ArticleHit.model_validate(
            {**article, "snippet": snippet(article["body"], terms, stem), "score": h.score}
        )
        for h in page.hits
        if (article := articles.get(h.article_id))
    ]
    last = page.hits[-1] if page.hits else None
    next_cursor = (
        encode_cursor({"score": last.score, "id": last.article_id, "search": search_id})
        if page.has_more and last
        else None
    )
    # Validated once, here: returned as a Response so FastAPI does not validate it again.
    body = ArticlePage(items=items, next_cursor=next_cursor).model_dump_json()
    return Response(body, media_type="application/json")
