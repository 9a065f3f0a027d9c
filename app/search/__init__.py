"""Full-text search over the archive, in one place: `search_articles` is what the route calls.

    q ──query──▶ terms ──engines──▶ FTS5 MATCH | tsquery ──repository──▶ ranked ids
                                                               │
          ArticlePage ◀──snippets (cut from the loaded bodies, stemmed as the engine stems)

`query` (the language users type) and `snippets` are pure; `engines` renders terms for
SQLite or Postgres; `repository` runs the ranked query.
"""

import hashlib

from sqlalchemy.orm import Session

from app.errors import InvalidInput
from app.pagination import decode_cursor, encode_cursor
from app.repositories import ArticleRepository, Filters
from app.schemas import ArticleHit, ArticlePage
from app.search.query import parse_query
from app.search.repository import SearchRepository
from app.search.snippets import snippet, stemmer

__all__ = ["search_articles"]


def search_articles(
    session: Session, q: str, filters: Filters, limit: int, cursor: str | None
) -> ArticlePage:
    """One page of articles matching `q`, best first, each with a highlighted snippet;
    InvalidInput (400) for a malformed query or a cursor of another search."""
    terms = parse_query(q)
    # The cursor remembers which search it belongs to: reusing it for another is a 400.
    search_id = hashlib.sha256(repr((q, filters)).encode()).hexdigest()[:12]
    after = None
    if cursor:
        position = decode_cursor(cursor, {"score": float, "id": int, "search": str})
        if position["search"] != search_id:
            raise InvalidInput("cursor belongs to a different search: start without it")
        after = (position["score"], position["id"])
    search = SearchRepository(session)
    page = search.search(terms, filters, limit, after)
    stem = stemmer(search.stemming(filters.language))
    found = ArticleRepository(session).get_many([h.article_id for h in page.hits])
    articles = {a["id"]: a for a in found}
    items = [
        ArticleHit.model_validate(
            {**article, "snippet": snippet(article["body"], terms, stem), "score": h.score}
        )
        for h in page.hits
        if (article := articles.get(h.article_id))
    ]
    last = page.hits[-1] if page.hits else None
    next_cursor = (
        encode_cursor({"score": last.score, "id": last.article_id, "search": search_id})
        if page.has_more and last
        else None
    )
    return ArticlePage(items=items, next_cursor=next_cursor)
