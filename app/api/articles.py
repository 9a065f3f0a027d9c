"""Routes for single articles: create, read, list, delete."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from app.api.body import decode_text, is_json, media_type, parse_json, read_limited
from app.api.deps import ReadSession, WriteSession
from app.api.errors import problem_responses
from app.errors import NotFound, UnsupportedMediaType
from app.ingest import ingest_one
from app.pagination import decode_cursor, encode_cursor
from app.repositories import ArticleRepository
from app.schemas import SEED_EXAMPLE, ArticleIn, ArticlePage, ArticleRead

router = APIRouter(prefix="/v1/articles", tags=["articles"])

_CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ArticleIn"}},
            "text/plain": {"schema": {"type": "string"}, "example": SEED_EXAMPLE},
        },
    }
}


async def article_input(request: Request) -> ArticleIn | str:
    """The request body as seed text (text/plain) or a validated JSON article."""
    kind, charset = media_type(request)
    if kind not in ("text/plain", "") and not is_json(kind):
        raise UnsupportedMediaType(
            f"Content-Type {kind!r} is not accepted: send text/plain or application/json"
        )
    body = await read_limited(request, request.app.state.settings.max_body_bytes)
    if kind == "text/plain":
        return decode_text(body, charset)
    if not kind:
        raise UnsupportedMediaType("Content-Type is missing: send text/plain or application/json")
    return ArticleIn.model_validate(parse_json(body))


@router.post(
    "",
    status_code=201,
    summary="Ingest an article",
    response_model=ArticleRead,
    responses={
        200: {"model": ArticleRead, "description": "Already stored: the existing article."},
        **problem_responses(400, 413, 415, 422, 503),
    },
    openapi_extra=_CREATE_BODY,
)
def create_article(
    item: Annotated[ArticleIn | str, Depends(article_input)],
    session: WriteSession,
    response: Response,
) -> Any:
    """Store seed text or normalized fields; 201 when new, 200 with the stored one if known."""
    outcome = ingest_one(session, item)
    article = ArticleRepository(session).get(outcome.article_id or 0)
    if outcome.status == "duplicate":
        response.status_code = 200
    response.headers["Location"] = f"/v1/articles/{outcome.article_id}"
    return article


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
) -> Any:
    """Keyset-paginated listing; follow `next_cursor` until it is null."""
    before = decode_cursor(cursor, {"before": int})["before"] if cursor else None
    page = ArticleRepository(session).list_page(limit=limit, before_id=before, source=source)
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
