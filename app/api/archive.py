"""The archive as a whole: sources, near-duplicate clusters, and the change feed."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import ArticleId, ReadSession
from app.api.errors import problem_responses
from app.errors import InvalidInput
from app.pagination import decode_cursor, encode_cursor
from app.repositories import (
    ArticleRepository,
    ChangeRepository,
    ClusterRepository,
    SourceRepository,
)
from app.schemas import ArticleRead, ChangePage, DuplicateList, SourceList

router = APIRouter(tags=["archive"])


@router.get(
    "/v1/sources",
    summary="List sources",
    response_model=SourceList,
)
def list_sources(session: ReadSession) -> Any:
    """Every source with its article count and its latest article, most prolific first."""
    return {"items": [_source(row) for row in SourceRepository(session).overview()]}


def _source(row: Any) -> dict[str, Any]:
    latest = row["latest_id"]
    return {
        "name": row["name"],
        "article_count": row["article_count"],
        "latest_article": {"id": latest, "headline": row["latest_headline"]} if latest else None,
        "latest_published_at": row["latest_published_at"],
        "latest_ingested_at": row["latest_ingested_at"],
    }


@router.get(
    "/v1/articles/{article_id}/duplicates",
    summary="Near duplicates of an article",
    response_model=DuplicateList,
    responses=problem_responses(404, 422),
)
def list_duplicates(article_id: ArticleId, session: ReadSession) -> Any:
    """The other articles of its near-duplicate cluster (the same story republished)."""
    article = ArticleRepository(session).require(article_id)
    return {
        "cluster_id": article.cluster_id or article.id,
        "items": ClusterRepository(session).members(article),
    }


@router.get(
    "/v1/changes",
    summary="Follow changes to the archive",
    response_model=ChangePage,
    responses=problem_responses(400, 422),
)
def list_changes(
    session: ReadSession,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the previous call; omit to start."),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            max_length=512,
            deprecated=True,
            description="The same as `cursor` (its earlier name), still accepted.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Every article created, updated (new revision) or deleted after the cursor, in order.
    Applying them in order to a copy (upsert the article, or remove it) reproduces the
    archive; poll again with `next_cursor` as `cursor`."""
    after = _after(cursor, since)
    changes = ChangeRepository(session).since(after, limit)
    found = ArticleRepository(session).get_many([c.article_id for c in changes])
    live = {a["id"]: a for a in found}
    items = [
        {
            "seq": c.id,
            "kind": c.kind,
            "article_id": c.article_id,
            "at": c.at,
            "article": _current(live, c.article_id, c.kind),
        }
        for c in changes
    ]
    last = changes[-1].id if changes else after
    return {
        "items": items,
        "next_cursor": encode_cursor({"after": last}),
        "has_more": len(changes) == limit,
    }


def _after(cursor: str | None, since: str | None) -> int:
    """The feed position to continue from, read from `cursor` or its alias `since`."""
    if cursor is not None and since is not None and cursor != since:
        raise InvalidInput("cursor and since are one parameter under two names: send one")
    if cursor:
        return int(decode_cursor(cursor, {"after": int})["after"])
    if since:
        return int(decode_cursor(since, {"after": int}, param="since")["after"])
    return 0


def _current(live: dict[int, Any], article_id: int, kind: str) -> ArticleRead | None:
    article = live.get(article_id)
    if kind == "deleted" or article is None:
        return None
    return ArticleRead.model_validate(article, from_attributes=True)
