"""New versions of a stored article: from a changed re-fetch, or from re-extraction."""

import zlib
from datetime import datetime

from app.db import RetryTransaction, retried
from app.errors import Conflict, NotFound
from app.models import Article, ArticleRevision, utcnow
from app.parsing.diff import diff_stats
from app.parsing.html import extract_article
from app.repositories import ArticleRepository, ChangeRepository
from app.repositories.locks import lock_articles, lock_keys
from app.schemas import NormalizedArticle


def revise(
    repo: ArticleRepository,
    article: Article,
    new: NormalizedArticle,
    digest: str,
    recorded_at: datetime,
) -> None:
    """Keep the current text as a revision, then make `new` the current version."""
    if article.revision == 1:  # first change: the original becomes revision 1
        repo.add_revision(_first_revision(article))
    number = article.revision + 1
    stats = diff_stats(article.body, new.body)
    revision = ArticleRevision(
        article_id=article.id,
        number=number,
        recorded_at=recorded_at,
        content_hash=digest,
        headline=new.headline,
        body=new.body,
        extraction=new.extraction.model_dump() if new.extraction else None,
        headline_changed=new.headline != article.headline,
        paragraphs_added=stats.added,
        paragraphs_removed=stats.removed,
        paragraphs_changed=stats.changed,
    )
    repo.add_revision(revision)
    _apply(repo, article, new, digest, number)
    ChangeRepository(repo.session).record([(article.id, "updated")])


def _first_revision(article: Article) -> ArticleRevision:
    return ArticleRevision(
        article_id=article.id,
        number=1,
        recorded_at=article.created_at,
        content_hash=article.content_hash,
        headline=article.headline,
        body=article.body,
        extraction=article.extraction,
        headline_changed=False,
        paragraphs_added=len([p for p in article.body.split("\n\n") if p]),
        paragraphs_removed=0,
        paragraphs_changed=0,
    )


def _apply(
    repo: ArticleRepository, article: Article, new: NormalizedArticle, digest: str, number: int
) -> None:
    sources = repo.ensure_sources([new.source] if new.source else [])
    for name in (
        "headline", "body", "canonical_url", "authors", "published_at", "modified_at",
        "language", "description", "top_image", "tags",
    ):  # fmt: skip
        setattr(article, name, getattr(new, name))
    article.source_id = sources.get(new.source) if new.source else None
    article.extraction = new.extraction.model_dump() if new.extraction else None
    article.content_hash = digest
    article.revision = number
    article.updated_at = utcnow()
    repo.session.flush()
    repo.replace_links(
        article.id,
        [
            {"article_id": article.id, "position": pos, "title": link.title, "url": link.url}
            for pos, link in enumerate(new.related_links)
        ],
    )


def versions(repo: ArticleRepository, article: Article) -> list[ArticleRevision]:
    """Every version, oldest first; an article that never changed is its own version 1."""
    return list(repo.revisions(article.id)) or [_first_revision(article)]


def reextract(repo: ArticleRepository, article_id: int) -> tuple[bool, Article]:
    """Run the current extractor over the stored bytes; a new revision if the text changed."""
    return retried(repo.session, lambda: _reextract(repo, article_id))


def _reextract(repo: ArticleRepository, article_id: int) -> tuple[bool, Article]:
    article = repo.require(article_id)
    snapshot = repo.snapshot(article_id)
    if snapshot is None:
        raise Conflict(
            f"article {article_id} has no stored page to re-extract (it was not ingested "
            "from HTML or a URL)"
        )
    fetched_at = snapshot.fetched_at
    raw = zlib.decompress(snapshot.raw_zlib)
    new = extract_article(raw, snapshot.final_url or snapshot.url, charset=snapshot.charset)
    new = new.model_copy(update={"url": article.url})
    digest = new.content_hash
    if digest == article.content_hash:
        return False, article
    # Extraction ran unlocked; lock the new text's key and the article as `store` does, then
    # check that nobody replaced the page or the text meanwhile.
    lock_keys(repo.session, [f"hash:{digest}"])
    if not lock_articles(repo.session, [article_id]):
        raise NotFound(f"no article with id {article_id}")
    article = repo.current(article_id) or article
    repo.session.refresh(snapshot, ["fetched_at"])
    if snapshot.fetched_at != fetched_at:
        raise RetryTransaction(f"the page of article {article_id} was replaced meanwhile")
    if digest == article.content_hash:
        return False, article
    owner, _ = repo.find_existing([digest], [])
    if owner:
        raise Conflict(f"the re-extracted text is already stored as article {owner[digest]}")
    revise(repo, article, new, digest, utcnow())
    return True, article
