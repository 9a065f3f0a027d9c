"""Deleting an article leaves a tombstone, so the same text or URL does not come back."""

from sqlalchemy.orm import Session

from app.db import retried
from app.repositories import (
    ArticleRepository,
    ChangeRepository,
    ClusterRepository,
    IdempotencyRepository,
)
from app.repositories.locks import lock_article_for_delete


def delete_article(session: Session, article_id: int) -> bool:
    """Delete the article, remember what it was known by, and record the change; False when
    there is no such article. Of concurrent deletes of one article, exactly one succeeds."""
    return retried(session, lambda: _delete(session, article_id))


def _delete(session: Session, article_id: int) -> bool:
    # The row lock first: a writer merging into the article holds it until it commits, so
    # the keys read below include every alias and revision it added.
    article = lock_article_for_delete(session, article_id)
    if article is None:
        return False
    repo = ArticleRepository(session)
    hashes = {article.content_hash, *(r.content_hash for r in repo.revisions(article_id))}
    keys = [f"hash:{h}" for h in hashes] + [f"url:{k}" for k in repo.url_keys(article_id)]
    changes = ChangeRepository(session)
    changes.bury(article_id, keys)
    if article.cluster_id is None:
        ClusterRepository(session).reroot(article_id)
    # Stored Idempotency-Key responses must not keep its text: withdraw them, before the
    # delete (whose ON DELETE CASCADE would otherwise remove them, freeing their keys).
    IdempotencyRepository(session).withdraw_article(article_id)
    repo.delete(article_id)
    changes.record([(article_id, "deleted")])
    return True
