"""One HTML page in, one NormalizedArticle out, with the rule behind every field."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.errors import Unprocessable
from app.extractors import HTML_EXTRACTOR
from app.parsing.html import dates, metadata
from app.parsing.html.article_text import Body, extract_body
from app.parsing.html.authors import credits
from app.parsing.html.links import LinkIndex
from app.parsing.html.page import NO_BODY, Found, Page, load_page
from app.schemas import MAX_SOURCE, Extraction, NormalizedArticle, RelatedLink
from app.text.normalize import clean_line, normalize_body

EXTRACTOR = HTML_EXTRACTOR
_MAX_LINKS = 50
_FALLBACK_HEADLINE = 150


@dataclass(frozen=True)
class ExtractedPage:
    """The article, plus the publication time with the offset the page declared (for checks)."""

    article: NormalizedArticle
    published_declared: datetime | None


def extract_article(
    html: bytes | str, url: str | None = None, *, charset: str | None = None
) -> NormalizedArticle:
    """Extract the article on an HTML page; raises Unprocessable when it has no body."""
    return extract_page(html, url, charset=charset).article


def extract_page(
    html: bytes | str, url: str | None = None, *, charset: str | None = None
) -> ExtractedPage:
    """`extract_article`, also returning the publication time as the page declared it."""
    page = load_page(html, url, charset)
    canonical = metadata.canonical_url(page)
    links = LinkIndex(page, {u for u in (url, canonical and canonical.value) if u})
    body = extract_body(page, metadata.title_texts(page), links)
    if body is None:
        raise Unprocessable(NO_BODY)
    published = dates.published(page)
    found = _fields(page, body, links, published) | {"canonical_url": canonical}
    filled = {name: f for name, f in found.items() if f is not None and f.value}
    if url:
        filled["url"] = Found(url, "caller")
    article = NormalizedArticle(
        **{name: f.value for name, f in filled.items()},
        extraction=Extraction(
            extractor=EXTRACTOR, fields={name: f.rule for name, f in filled.items()}
        ),
    )
    return ExtractedPage(article, published.value if published else None)


def _fields(
    page: Page, body: Body, links: LinkIndex, published: Found[datetime] | None
) -> dict[str, Found[Any] | None]:
    who = credits(page)
    return {
        "headline": metadata.headline(page) or _headline_from_body(body),
        "body": Found(normalize_body("\n\n".join(body.paragraphs)), body.rule),
        # Explicit credit in the text, then the byline's organisation, then the site; a
        # "name" longer than any organisation's (a JSON-LD blob, say) is no name.
        "source": _name(body.source) or _name(who.organisation) or _name(metadata.site_name(page)),
        "related_links": _related_links(body, links),
        "authors": who.authors,
        "published_at": _utc(published),
        "modified_at": _utc(_modified(page, published)),
        "language": metadata.language(page),
        "description": metadata.description(page),
        "top_image": metadata.top_image(page),
        "tags": metadata.tags(page),
    }


def _name(found: Found[str] | None) -> Found[str] | None:
    return found if found and len(found.value) <= MAX_SOURCE else None


def _utc(found: Found[datetime] | None) -> Found[datetime] | None:
    return Found(found.value.astimezone(UTC), found.rule) if found else None


def _headline_from_body(body: Body) -> Found[str]:
    """No title anywhere: the first paragraph, shortened, stands in (as in seed text)."""
    first = body.paragraphs[0]
    if len(first) > _FALLBACK_HEADLINE:
        first = first[:_FALLBACK_HEADLINE].rsplit(" ", 1)[0] + "…"
    return Found(clean_line(first), body.rule)


def _related_links(body: Body, links: LinkIndex) -> Found[list[RelatedLink]] | None:
    candidates = [*body.seed_links, *body.teaser_links]
    candidates += links.in_text("\n".join(body.paragraphs))
    candidates += links.after(body.paragraphs[-1])
    unique: dict[str, RelatedLink] = {}
    for link in candidates:
        unique.setdefault((link.url or link.title or "").casefold(), link)
    found = list(unique.values())[:_MAX_LINKS]
    return Found(found, "seed-line" if body.seed_links else "html") if found else None


def _modified(page: Page, published: Found[datetime] | None) -> Found[datetime] | None:
    """A guessed (htmldate) modification must come after the publication to mean anything."""
    modified = dates.modified(page)
    if modified is None or modified.rule != "htmldate":
        return modified
    if published is None or modified.value.astimezone(UTC) > published.value.astimezone(UTC):
        return modified
    return None
