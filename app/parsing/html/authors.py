"""Author names from the visible byline (else metadata), and the organisation a byline credits."""

import re
from dataclasses import dataclass
from itertools import islice
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

from app.parsing.html.credits import wire_name
from app.parsing.html.metadata import ld_article_value, site_keys
from app.parsing.html.names import dedupe, split_byline
from app.parsing.html.page import Found, Page, text_of
from app.text.normalize import clean_line

_MAX_BYLINE = 200
_MAX_BYLINE_ELEMENTS = 40
# Attribute-axis XPath: an order of magnitude faster than testing every element's @class.
_BYLINE_XPATH = etree.XPath(
    "//@class[contains(., 'uthor') or contains(., 'yline')]/.. | //@rel[. = 'author']/.."
    " | //@itemprop[. = 'author' or . = 'creator']/.. | //@id[contains(., 'yline')]/.."
)
# Bylines inside these are other articles' (teasers, comments) or site chrome: tags, and
# class or id words that start such blocks ("related-posts", "sidebar-right").
_OUTSIDE_ARTICLE = ("comment", "related", "recommend", "footer", "sidebar", "widget", "newsletter")
# Elements that may hold a plain-text byline: the first few after the first <h1>.
_AFTER_H1 = (
    "(//h1)[1]/following::*[self::p or self::div or self::span or self::li][position() <= 40]"
)
_BY = re.compile(r"^\s*(?:(?:written|posted|reported)\s+)?by\b", re.IGNORECASE)
_OUTSIDE_TAGS = frozenset({"nav", "footer", "aside", "script", "noscript", "template"})


@dataclass(frozen=True)
class Credits:
    """Who wrote it: person names and, separately, an organisation the byline credits."""

    authors: Found[list[str]] | None = None
    organisation: Found[str] | None = None


def credits(page: Page) -> Credits:
    """Visible byline first; metadata names only when they also appear in the page's text."""
    keys = site_keys(page)
    byline = _from_bylines(page, keys)
    if byline.authors:
        return byline
    meta = _from_metadata(page, keys)
    visible = _visible_text(page).casefold() if meta.authors else ""
    names = (
        [name for name in meta.authors.value if name.casefold() in visible] if meta.authors else []
    )
    authors = Found(names, meta.authors.rule) if meta.authors and names else None
    return Credits(authors, byline.organisation or meta.organisation)


def _from_bylines(page: Page, site_keys: list[str]) -> Credits:
    candidates = [e for e in _BYLINE_XPATH(page.tree) if _small(e) and not _outside(e)]
    texts = {id(e): text_of(e) for e in candidates}
    parsed = {id(e): _parse_text(texts[id(e)], site_keys) for e in candidates}
    organisation: Found[str] | None = None
    for element in candidates:
        names, org = parsed[id(element)]
        inner = [parsed[id(e)] for e in candidates if e is not element and _inside(e, element)]
        inner_names = dedupe([name for found, _ in inner for name in found])
        org = org or next((o for _, o in inner if o), None)
        rule = "microdata" if element.get("itemprop") in ("author", "creator") else "byline"
        organisation = organisation or (Found(org, rule) if org else None)
        # Nested name elements beat the wrapper's text, which may run names into labels
        # ("By Jane DoeSite News"), unless the wrapper lists more people.
        best = inner_names if len(inner_names) >= len(names) else names
        if organisation and all(" " not in name for name in best):
            best = []  # "PTI, Washington": after a wire credit, one word is a dateline place
        if best:
            return Credits(Found(best, rule), organisation)
    if any(texts.values()):  # a byline that names no person ("By Staff") is still the byline
        return Credits(None, organisation)
    return _textual_byline(page, site_keys)


def _small(element: HtmlElement) -> bool:
    """Bylines hold a few elements; skipping big ones (an <article class="author-x">) is cheap."""
    return sum(1 for _ in islice(element.iter(), _MAX_BYLINE_ELEMENTS)) < _MAX_BYLINE_ELEMENTS


def _parse_text(text: str, site_keys: list[str]) -> tuple[list[str], str | None]:
    if not text or len(text) > _MAX_BYLINE:
        return [], None
    return split_byline(text, site_keys)


def _inside(element: HtmlElement, container: HtmlElement) -> bool:
    return any(ancestor is container for ancestor in element.iterancestors())


def _textual_byline(page: Page, site_keys: list[str]) -> Credits:
    """No byline markup: the first short "By …" line after the headline."""
    for element in page.tree.xpath(_AFTER_H1):
        if _BY.match(element.text or "") and not _outside(element):
            names, org = _parse_text(text_of(element), site_keys)
            if names or org:
                return Credits(
                    Found(names, "byline") if names else None,
                    Found(org, "byline") if org else None,
                )
    return Credits()


def _outside(element: HtmlElement) -> bool:
    for ancestor in element.iterancestors():
        if ancestor.tag in ("body", "html"):  # their classes describe the layout, not places
            return False
        if ancestor.tag in _OUTSIDE_TAGS:
            return True
        marker = f"{ancestor.get('class', '')} {ancestor.get('id', '')}".lower()
        if any(word.startswith(_OUTSIDE_ARTICLE) for word in marker.split()):
            return True
    return False


def _from_metadata(page: Page, site_keys: list[str]) -> Credits:
    people: list[str] = []
    organisation: Found[str] | None = None
    for author in _ld_authors(page):
        kind = str(author.get("@type", "")).lower() if isinstance(author, dict) else ""
        name = author.get("name") if isinstance(author, dict) else author
        if not isinstance(name, str):
            continue
        if "organization" in kind or wire_name(name):
            organisation = organisation or Found(wire_name(name) or clean_line(name), "json-ld")
        else:
            people += split_byline(name, site_keys)[0]
    if people:
        return Credits(Found(dedupe(people), "json-ld"), organisation)
    for key in ("author", "article:author", "parsely-author", "sailthru.author", "dc.creator"):
        names = [n for value in page.meta.get(key, ()) for n in split_byline(value, site_keys)[0]]
        if names:
            return Credits(Found(dedupe(names), "meta"), organisation)
    return Credits(None, organisation)


def _ld_authors(page: Page) -> list[Any]:
    value = ld_article_value(page, "author")
    values = value if isinstance(value, list) else [value]
    return [page.ld_resolve(v) for v in values if v]


def _visible_text(page: Page) -> str:
    body = page.tree.find(".//body")
    return text_of(body) if body is not None else ""
