"""Routes for an article's versions: list, read one, diff against the previous, re-extract."""

from typing import Any

from fastapi import APIRouter, Path, Request

from app.api.deps import ArticleId, ReadSession, WriteSession
from app.api.errors import problem_responses
from app.api.middleware.idempotency_records import shows_article
from app.errors import NotFound
from app.ingest import reextract, versions
from app.models import ArticleRevision
from app.parsing.diff import diff_paragraphs
from app.repositories import ArticleRepository
from app.schemas import ReextractResult, RevisionDiff, RevisionList, RevisionRead

router = APIRouter(prefix="/v1/articles/{article_id}", tags=["revisions"])
Number = Path(ge=1, le=1_000_000, description="Version number, from 1.")


def _version(repo: ArticleRepository, article_id: int, number: int) -> list[ArticleRevision]:
    """Versions up to and including `number`; NotFound when there is no such version."""
    found = versions(repo, repo.require(article_id))
    if number > len(found):
        raise NotFound(f"article {article_id} has no revision {number} (it has {len(found)})")
    return found[:number]


@router.get(
    "/revisions",
    summary="List an article's versions",
    response_model=RevisionList,
    responses=problem_responses(404, 422),
)
def list_revisions(article_id: ArticleId, session: ReadSession) -> Any:
    """Oldest first, each with what changed since the one before."""
    repo = ArticleRepository(session)
    return {"items": versions(repo, repo.require(article_id))}


@router.get(
    "/revisions/{number}",
    summary="Get one version",
    response_model=RevisionRead,
    responses=problem_responses(404, 422),
)
def get_revision(article_id: ArticleId, session: ReadSession, number: int = Number) -> Any:
    """The headline and body as they were in this version."""
    return _version(ArticleRepository(session), article_id, number)[-1]


@router.get(
    "/revisions/{number}/diff",
    summary="Diff a version against the previous one",
    response_model=RevisionDiff,
    responses=problem_responses(404, 422),
)
def diff_revision(article_id: ArticleId, session: ReadSession, number: int = Number) -> Any:
    """Paragraph-level changes from version `number - 1` to `number`."""
    chain = _version(ArticleRepository(session), article_id, number)
    current, previous = chain[-1], (chain[-2] if len(chain) > 1 else None)
    old_headline, old_body = (previous.headline, previous.body) if previous else ("", "")
    same = old_headline == current.headline
    return {
        "number": number,
        "previous": previous.number if previous else None,
        "headline": {
            "op": "equal" if same else ("changed" if previous else "added"),
            "old": [old_headline] if previous else [],
            "new": [current.headline],
        },
        "paragraphs": diff_paragraphs(old_body, current.body),
    }


@router.post(
    "/reextract",
    summary="Re-run extraction on the stored page",
    response_model=ReextractResult,
    responses=problem_responses(404, 409, 422, 503),
)
def reextract_article(article_id: ArticleId, session: WriteSession, request: Request) -> Any:
    """Extract the kept bytes again, without fetching; a new revision if the text changed."""
    changed, article = reextract(ArticleRepository(session), article_id)
    shows_article(request.scope, article_id)
    return {"changed": changed, "article": article}
