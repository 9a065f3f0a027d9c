"""Queries, one named method each. In: plain values or ORM objects; out: ORM objects or ids.
Repositories flush but never commit, and know nothing of HTTP."""

from app.repositories.articles import ArticleRepository, Filters, Page, conditions, source_key
from app.repositories.changes import ChangeRepository
from app.repositories.clusters import ClusterRepository
from app.repositories.idempotency import IdempotencyRepository
from app.repositories.sources import SourceRepository

__all__ = [
    "ArticleRepository",
    "ChangeRepository",
    "ClusterRepository",
    "Filters",
    "IdempotencyRepository",
    "Page",
    "SourceRepository",
    "conditions",
    "source_key",
]
