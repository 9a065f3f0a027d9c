"""Near-duplicate clusters: LSH band keys, candidate pairs, cluster membership."""

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from app.models import Article, ArticleBand
from app.repositories.bulk import in_many, insert_rows


class ClusterRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_bands(self, rows: list[tuple[int, int]]) -> None:
        """(band key, article id) rows."""
        insert_rows(self.session, ArticleBand.__table__, ("band_key", "article_id"), rows)

    def articles_with_bands(self, band_keys: set[int]) -> dict[int, list[int]]:
        """Band key -> stored articles having it (one indexed lookup per key)."""
        found: dict[int, list[int]] = {}
        dialect = self.session.get_bind().dialect.name
        band = ArticleBand.__table__  # Core: every store asks, and skips the ORM layer
        where = in_many(band.c.band_key, sorted(band_keys), dialect)
        query = select(band.c.band_key, band.c.article_id).where(where)
        for key, article_id in self.session.execute(query):
            found.setdefault(key, []).append(article_id)
        return found

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
