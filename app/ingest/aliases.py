"""Which URLs an article is found and merged by: a site vouches for its own URLs only.

A page's rel=canonical or og:url is a statement by whoever served the page. Taken as an
alias it would let any site name another site's article, which then takes the page's text
as a new revision (or files the real page under the forgery). So an alias must be on the
same site as the URL that vouches for it: the final URL after redirects for a fetched page,
the `url` a client gave with the HTML it posted. A URL on another site that redirected to
the page is no alias either: that site could serve its own text there later. A URL the
client gave as such (`url`, or `canonical_url` as a field) is the client's word, trusted;
an export's provenance names the page's rule, so a re-import does not promote it.
"""

from collections.abc import Iterable
from typing import Any

from app.parsing.urls import url_domain
from app.schemas import NormalizedArticle

CALLER = "caller"  # the provenance of a field the client gave (app.parsing.structured)


def same_site(url: str, other: str) -> bool:
    """Whether two URLs are on one site: the same registrable domain by the public suffix
    list `tld` ships (no network), or the same host for IP literals and names under no
    public suffix (localhost, intranet names)."""
    site = url_domain(url)
    return site is not None and site == url_domain(other)


def alias_urls(
    article: NormalizedArticle, served_by: str | None = None, requested: Iterable[str] = ()
) -> tuple[str, ...]:
    """The URLs to store `article` under: `served_by` (the URL whose response carried the
    page, after redirects) or else the article's `url`; the `requested` URLs that led there
    and the canonical URL the page declared, when on that same site; a canonical URL the
    client gave, always. A declared canonical with no URL to vouch for it is no alias."""
    anchor = served_by or article.url
    urls = [u for u in requested if u and anchor and (u == anchor or same_site(u, anchor))]
    urls += [anchor] if anchor else []
    canonical = article.canonical_url
    if canonical and (_given(article) or (anchor and same_site(canonical, anchor))):
        urls.append(canonical)
    return tuple(dict.fromkeys(urls))


def _given(article: NormalizedArticle) -> bool:
    """Whether the client gave the canonical URL (any other rule: a parser read it on a page)."""
    rule = article.extraction.fields.get("canonical_url") if article.extraction else None
    return rule in (None, CALLER)


def on_known_sites(rows: list[dict[str, Any]], known_keys: Iterable[str]) -> list[dict[str, Any]]:
    """The alias rows on a site among `known_keys` (all of them if there are none).

    For an item that matched a stored article by its text alone: a copy of an article on
    another site must not become a key to it, or the copy's next edit would revise it.
    """
    sites = {url_domain(key) for key in known_keys}
    return [row for row in rows if url_domain(row["url"]) in sites] if sites else rows
