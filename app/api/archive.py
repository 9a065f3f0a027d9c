"""The archive as a whole: sources, near-duplicate clusters, and the change feed."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import ArticleId, ReadSession
from app.api.errors import problem_responses
from app.pagination import decode_cursor, encode_cursor
from app.repositories import ArticleRepository, ChangeRepository, ClusterRepository
from app.schemas import ArticleRead, ChangePage, DuplicateList, SourceList

router = APIRouter(tags=["archive"])


@router.get(
    "/v1/sources",
    summary="List sources",
    response_model=SourceList,
    responses=problem_responses(422),
)
def list_sources(session: ReadSession) -> Any:
    """Every source with its article count and its latest article, most prolific first."""
    rows = ArticleRepository(session).sources()
    return {
        "items": [
            {"name": n, "article_count": c, "latest_published_at": p, "latest_ingested_at": i}
            for n, c, p, i in rows
        ]
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
    since: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the previous call; omit to start."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Every article created, updated (new revision) or deleted after the cursor, in order.
    Applying them in order to a copy (upsert the article, or remove it) reproduces the
    archive; poll again with `next_cursor`."""
    after = decode_cursor(since, {"after": int})["after"] if since else 0
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


def _current(live: dict[int, Any], article_id: int, kind: str) -> ArticleRead | None:
    article = live.get(article_id)
    if kind == "deleted" or article is None:
        return None
    return ArticleRead.model_validate(article, from_attributes=True)
