"""Routes for single articles: create, read, list, delete."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.body import decode_text, is_json, media_type, parse_json, read_limited
from app.api.deps import FetchCtx, ReadSession, WriteSession
from app.api.errors import problem_responses
from app.errors import AppError, Conflict, NotFound, UnsupportedMediaType
from app.ingest import prepare, store
from app.observability import record_ingest
from app.pagination import decode_cursor, encode_cursor
from app.parsing.urls import normalize_url
from app.repositories import ArticleRepository
from app.schemas import SEED_EXAMPLE, ArticleIn, ArticlePage, ArticleRead

router = APIRouter(prefix="/v1/articles", tags=["articles"])

_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ArticleIn"}},
            "text/plain": {"schema": {"type": "string"}, "example": SEED_EXAMPLE},
            "text/html": {
                "schema": {"type": "string"},
                "example": "<html><head><title>Storm</title></head><body><article><h1>Storm"
                "</h1><p>The storm closed every port.</p></article></body></html>",
            },
        },
    },
    "parameters": [
        {
            "name": "Content-Location",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 2048},
            "description": "For text/html bodies: the page's URL (resolves its links).",
        }
    ],
}


async def article_input(request: Request) -> ArticleIn:
    """The request body as seed text, an HTML page, or a validated JSON article."""
    kind, charset = media_type(request)
    if kind not in ("text/plain", "text/html", "application/xhtml+xml") and not is_json(kind):
        raise UnsupportedMediaType(
            f"Content-Type {kind or 'missing'!r} is not accepted: send text/plain, "
            "text/html or application/json"
        )
    body = await read_limited(request, request.app.state.settings.max_body_bytes)
    if kind == "text/plain":
        return ArticleIn.model_validate({"text": decode_text(body, charset)})
    if not is_json(kind):
        url = request.headers.get("content-location") or None
        return ArticleIn.model_validate({"html": decode_text(body, charset), "url": url})
    return ArticleIn.model_validate(parse_json(body))


@router.post(
    "",
    status_code=201,
    summary="Ingest an article",
    response_model=ArticleRead,
    responses={
        200: {
            "model": ArticleRead,
            "description": "Already stored: the stored article (updated, with a new revision, "
            "when a known URL now has different text).",
        },
        **problem_responses(400, 403, 413, 415, 422, 502, 503, 504),
    },
    openapi_extra=_CREATE_BODY,
)
def create_article(
    item: Annotated[ArticleIn, Depends(article_input)],
    session: WriteSession,
    fetch: FetchCtx,
    response: Response,
) -> Any:
    """Store seed text, HTML, a fetched URL or normalized fields; 201 when new, else 200."""
    prepared = prepare(item, fetch)
    if isinstance(prepared, AppError):
        raise prepared
    outcome = store(session, [prepared])[0]
    record_ingest(outcome.status)
    if outcome.status == "error":
        raise Conflict(outcome.error or "the article could not be stored")
    response.status_code = 201 if outcome.status == "created" else 200
    response.headers["Location"] = f"/v1/articles/{outcome.article_id}"
    return ArticleRepository(session).get(outcome.article_id or 0)


@router.get(
    "",
    summary="List articles, newest first",
    response_model=ArticlePage,
    responses=problem_responses(400, 422),
)
def list_articles(
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
    source: Annotated[
        str | None, Query(max_length=300, description="Only this source (any case).")
    ] = None,
    url: Annotated[
        str | None,
        Query(
            max_length=2048,
            description="Only the article known by this URL: as given, after redirects, "
            "rel=canonical or og:url; tracking parameters, www., AMP and scheme ignored.",
        ),
    ] = None,
) -> Any:
    """Keyset-paginated listing; follow `next_cursor` until it is null."""
    repo = ArticleRepository(session)
    if url is not None:
        key = normalize_url(url)
        found = repo.get_by_url_key(key) if key else None
        return {"items": [found] if found else [], "next_cursor": None}
    before = decode_cursor(cursor, {"before": int})["before"] if cursor else None
    page = repo.list_page(limit=limit, before_id=before, source=source)
    next_cursor = encode_cursor({"before": page.items[-1].id}) if page.has_more else None
    return {"items": page.items, "next_cursor": next_cursor}


@router.get(
    "/{article_id}",
    summary="Get one article",
    response_model=ArticleRead,
    responses=problem_responses(404, 422),
)
def get_article(article_id: int, session: ReadSession) -> Any:
    """The stored article with this id."""
    article = ArticleRepository(session).get(article_id)
    if article is None:
        raise NotFound(f"no article with id {article_id}")
    return article


@router.delete(
    "/{article_id}",
    status_code=204,
    summary="Delete an article",
    responses=problem_responses(404, 422, 503),
)
def delete_article(article_id: int, session: WriteSession) -> Response:
    """Remove the article and its related links."""
    if not ArticleRepository(session).delete(article_id):
        raise NotFound(f"no article with id {article_id}")
    return Response(status_code=204)
