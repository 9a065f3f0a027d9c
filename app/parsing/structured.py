"""Already-structured article fields (JSON input), normalized like the text parser's output."""

from typing import Any

from app.errors import Unprocessable
from app.parsing.normalize import clean_line, normalize_body
from app.schemas import ArticleIn, NormalizedArticle, none_if_blank


def parse_fields(item: ArticleIn) -> NormalizedArticle:
    """Normalize caller-supplied fields; raises Unprocessable when headline or body is empty."""
    headline = clean_line(item.headline or "")
    body = normalize_body(item.body or "")
    if not headline:
        raise Unprocessable("headline is empty")
    if not body:
        raise Unprocessable("body is empty: an article needs at least one paragraph")
    return NormalizedArticle(headline=headline, body=body, **metadata_fields(item))


def metadata_fields(item: ArticleIn) -> dict[str, Any]:
    """Every field but headline and body, normalized."""
    return {
        "source": none_if_blank(item.source),
        "related_links": item.related_links,
        "url": none_if_blank(item.url),
        "canonical_url": none_if_blank(item.canonical_url),
        "authors": [a for a in (clean_line(x) for x in item.authors) if a],
        "published_at": item.published_at,
        "language": item.language,
    }
