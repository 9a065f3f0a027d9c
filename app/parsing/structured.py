"""Already-structured article fields (JSON input), normalized like the text parser's output."""

from typing import Any

from app.errors import Unprocessable
from app.schemas import ArticleIn, Extraction, NormalizedArticle, none_if_blank
from app.text.normalize import clean_line, normalize_body

EXTRACTOR = "news-archive-fields/1"


def parse_fields(item: ArticleIn) -> NormalizedArticle:
    """Normalize caller-supplied fields; raises Unprocessable when headline or body is empty."""
    headline = clean_line(item.headline or "")
    body = normalize_body(item.body or "")
    if not headline:
        raise Unprocessable("headline is empty")
    if not body:
        raise Unprocessable("body is empty: an article needs at least one paragraph")
    fields = {"headline": headline, "body": body} | metadata_fields(item)
    provenance = item.extraction or Extraction(
        extractor=EXTRACTOR, fields={name: "caller" for name, v in fields.items() if v}
    )
    return NormalizedArticle(**fields, extraction=provenance)


def metadata_fields(item: ArticleIn) -> dict[str, Any]:
    """Every field but headline and body, normalized."""
    return {
        "source": none_if_blank(item.source),
        "related_links": item.related_links,
        "url": none_if_blank(item.url),
        "canonical_url": none_if_blank(item.canonical_url),
        "authors": _lines(item.authors),
        "published_at": item.published_at,
        "modified_at": item.modified_at,
        "language": item.language,
        "description": none_if_blank(item.description),
        "top_image": none_if_blank(item.top_image),
        "tags": _lines(item.tags),
    }


def caller_overrides(item: ArticleIn, article: NormalizedArticle) -> NormalizedArticle:
    """Metadata the caller sent beside text or html wins over what the parser found."""
    given = item.model_fields_set - {"text", "html", "headline", "body", "id", "content_hash"}
    given -= {"extraction"}
    if not given:
        return article
    update = {k: v for k, v in metadata_fields(item).items() if k in given}
    extraction = article.extraction or Extraction(extractor=EXTRACTOR)
    provenance = extraction.fields | dict.fromkeys(update, "caller")
    update["extraction"] = extraction.model_copy(update={"fields": provenance})
    return article.model_copy(update=update)


def _lines(values: list[str]) -> list[str]:
    return [v for v in (clean_line(x) for x in values) if v]
