"""The sources overview: one row per source with its counts and its newest article."""

from collections.abc import Sequence

from sqlalchemy import RowMapping, func, select
from sqlalchemy.orm import Session, aliased

from app.models import Article, Source


class SourceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def overview(self) -> Sequence[RowMapping]:
        """Every source, most prolific first: name, article_count, latest_published_at,
        latest_ingested_at, latest_id and latest_headline (its newest article: the highest
        id, as the listing orders). One statement, whatever the number of sources."""
        stats = (
            select(
                Article.source_id,
                func.count(Article.id).label("article_count"),
                func.max(Article.published_at).label("latest_published_at"),
                func.max(Article.created_at).label("latest_ingested_at"),
                func.max(Article.id).label("latest_id"),
            )
            .group_by(Article.source_id)
            .subquery()
        )
        latest = aliased(Article)
        count = func.coalesce(stats.c.article_count, 0)
        query = (
            select(
                Source.name,
                count.label("article_count"),
                stats.c.latest_published_at,
                stats.c.latest_ingested_at,
                latest.id.label("latest_id"),
                latest.headline.label("latest_headline"),
            )
            .outerjoin(stats, stats.c.source_id == Source.id)
            .outerjoin(latest, latest.id == stats.c.latest_id)
            .order_by(count.desc(), Source.name)
        )
        return self.session.execute(query).mappings().all()
