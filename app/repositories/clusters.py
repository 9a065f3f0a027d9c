"""Near-duplicate clusters: LSH band keys, candidate pairs, cluster membership."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session

from app.models import Article, ArticleBand
from app.repositories.bulk import in_many, insert_rows


class ClusterRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_bands(self, rows: list[tuple[int, int]]) -> None:
        """(band key, article id) rows."""
        insert_rows(self.session, ArticleBand.__table__, ("band_key", "article_id"), rows)

    def articles_with_bands(self, band_keys: set[int], oldest: int) -> dict[int, list[int]]:
        """Band key -> the `oldest` stored articles having it (lowest ids), by an indexed
        probe per key: a story syndicated a thousand times costs each new copy `oldest`
        rows per key, not a row per earlier copy."""
        if not band_keys:
            return {}
        found: dict[int, list[int]] = {}
        for key, article_id in self.session.execute(self._oldest(sorted(band_keys), oldest)):
            found.setdefault(key, []).append(article_id)
        return found

    def _oldest(self, keys: list[int], oldest: int) -> Any:
        if self.session.get_bind().dialect.name == "postgresql":
            # One index range per key, stopped after `oldest` rows (the primary key is
            # (band_key, article_id)).
            return text(
                "SELECT k.key, b.article_id FROM unnest(CAST(:keys AS bigint[])) AS k(key) "
                "CROSS JOIN LATERAL (SELECT article_id FROM article_band "
                "WHERE band_key = k.key ORDER BY article_id LIMIT :oldest) AS b"
            ).bindparams(keys=keys, oldest=oldest)
        # SQLite (no LATERAL): the keys' rows numbered in id order, read in C in-process.
        band = ArticleBand.__table__
        rank = func.row_number().over(partition_by=band.c.band_key, order_by=band.c.article_id)
        ranked = (
            select(band.c.band_key, band.c.article_id, rank.label("rank"))
            .where(in_many(band.c.band_key, keys, "sqlite"))
            .subquery()
        )
        return select(ranked.c.band_key, ranked.c.article_id).where(ranked.c.rank <= oldest)

    def signatures(self, article_ids: Iterable[int]) -> dict[int, tuple[bytes, int | None]]:
        """Encoded signature and cluster of each article."""
        article_ids = list(article_ids)
        if not article_ids:  # the usual case: no stored article shares a band key
            return {}
        article = Article.__table__
        query = select(article.c.id, article.c.signature, article.c.cluster_id).where(
            article.c.id.in_(article_ids), article.c.signature.is_not(None)
        )
        return {i: (sig, c) for i, sig, c in self.session.execute(query) if sig is not None}

    def join(self, members: list[tuple[int, int]]) -> None:
        """Put each (article, root) pair's article into the root's cluster."""
        if not members:
            return
        table = Article.__table__
        stmt = (
            update(table)
            .where(table.c.id == bindparam("member"))
            .values(cluster_id=bindparam("root"))
        )
        self.session.execute(stmt, [{"member": a, "root": r} for a, r in members])

    def members(self, article: Article) -> Sequence[Article]:
        """The other articles of the article's cluster, oldest first."""
        root = article.cluster_id or article.id
        query = (
            select(Article)
            .where(or_(Article.id == root, Article.cluster_id == root), Article.id != article.id)
            .order_by(Article.id)
        )
        return self.session.scalars(query).all()

    def reroot(self, root: int) -> None:
        """Before `root` is deleted: its oldest member becomes the root of the others."""
        query = select(Article.id).where(Article.cluster_id == root).order_by(Article.id)
        rest = list(self.session.scalars(query))
        if not rest:
            return
        heir = rest[0]
        self.session.execute(update(Article).where(Article.id == heir).values(cluster_id=None))
        self.session.execute(
            update(Article).where(Article.cluster_id == root).values(cluster_id=heir)
        )
