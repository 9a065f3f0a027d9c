"""Page-level fields from structured data and page structure: headline, site, language, …"""

import html
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from app.parsing.html.credits import wire_name
from app.parsing.html.page import Found, Page, ld_types, text_of
from app.text.normalize import clean_line

_MAX_HEADLINE = 300
_MAX_TAGS = 50
_MAX_TAG = 100
# " | Site", " - Site", " — Site", " :: Site", " · Site": how <title> and og:title append the site.
_TITLE_SEPARATOR = re.compile(r"\s+(?:[|–—·•»]|-{1,2}|::)\s+")
_WORD = re.compile(r"\w+")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")
# A site name differs from a title segment by at most this much ("Spokesman-Review Newspaper").
_SITE_SLACK = 12
_MAX_SITE_WORDS = 4
_SITE_TYPES = frozenset({"website", "organization", "newsmediaorganization"})


def ld_text(value: Any) -> str | None:
    """A JSON-LD value as one line of text: strings as they are, objects by name."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("@value")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return clean_line(html.unescape(str(value))) or None
    return None


def ld_article_value(page: Page, key: str) -> Any:
    """`key` of the first JSON-LD article that has it, following an @id reference."""
    for article in page.articles():
        if article.get(key):
            return page.ld_resolve(article[key])
    return None


def domain(page: Page) -> str | None:
    try:
        host = urlsplit(page.url or "").hostname or ""
    except ValueError:
        return None
    return host.removeprefix("www.") or None


def site_name(page: Page) -> Found[str] | None:
    """The publishing site: JSON-LD publisher, else og:site_name, else the domain."""
    if name := ld_text(ld_article_value(page, "publisher")):
        return Found(wire_name(name) or _without_tagline(name), "json-ld")
    if name := page.meta_first("og:site_name", "application-name"):
        return Found(_without_tagline(name), "meta")
    if name := _title_suffix(page):
        return Found(name, "html")
    return Found(host, "domain") if (host := domain(page)) else None


def _without_tagline(name: str) -> str:
    """ "LinkNaija | Nigeria's popular news platform" names the site "LinkNaija"."""
    return _TITLE_SEPARATOR.split(name)[0] or name


def _title_suffix(page: Page) -> str | None:
    """ "Headline - Site Name": the <title>'s last segment, when short enough to be a name."""
    parts = _TITLE_SEPARATOR.split(_title_element(page) or "")
    if len(parts) < 2 or not 0 < len(parts[-1].split()) <= _MAX_SITE_WORDS:
        return None
    return parts[-1]


def site_keys(page: Page) -> list[str]:
    """The site's names, folded to compare with title segments and bylines ("thehill")."""
    names = [ld_text(ld_article_value(page, "publisher")), page.meta_first("og:site_name")]
    names += [ld_text(obj.get("name")) for obj in page.json_ld if _is_site(obj)]
    host = domain(page) or ""
    names += [host, host.rsplit(".", 1)[0]]
    return [key for name in names if name and len(key := _key(name)) >= 3]


def _is_site(obj: dict[str, Any]) -> bool:
    return bool(_SITE_TYPES & ld_types(obj))


def _key(text: str) -> str:
    return "".join(_WORD.findall(text.casefold())).replace("_", "")


def is_site_name(text: str, site_keys: Sequence[str]) -> bool:
    key = _key(text)
    return any(
        (site in key or key in site) and abs(len(key) - len(site)) <= _SITE_SLACK
        for site in site_keys
        if min(len(site), len(key)) >= 3
    )


def strip_site_suffix(title: str, site_keys: list[str]) -> str:
    """Drop " | Site" suffixes (and "Site | " prefixes) naming the site, however many."""
    parts = _TITLE_SEPARATOR.split(title)
    while len(parts) > 1 and is_site_name(parts[-1], site_keys):
        parts.pop()
    while len(parts) > 1 and is_site_name(parts[0], site_keys):
        parts.pop(0)
    if len(parts) == len(_TITLE_SEPARATOR.split(title)):
        return title
    # Rejoin with the original separators: cut the title at the kept parts' span.
    start = title.find(parts[0])
    end = title.rfind(parts[-1]) + len(parts[-1])
    return title[start:end] if 0 <= start < end else " | ".join(parts)


def headline(page: Page) -> Found[str] | None:
    """The visible <h1> when it is the article's headline, else the best metadata title."""
    keys = site_keys(page)
    titles = [
        Found(strip_site_suffix(found.value, keys), found.rule) for found in _metadata_titles(page)
    ]
    h1s = [text for text in _h1_texts(page) if not is_site_name(text, keys)]
    for text in h1s:  # the visible headline wins over a differing og:title (SEO titles)
        if any(_similar(text, title.value) for title in titles):
            return Found(text, "html")
    if len(h1s) == 1 and len(_WORD.findall(h1s[0])) >= 3:  # a lone, headline-sized <h1>
        return Found(h1s[0], "html")
    return titles[0] if titles else None


def title_texts(page: Page) -> list[str]:
    """Every title the page declares, as written and without its site suffix."""
    keys = site_keys(page)
    raw = [found.value for found in _metadata_titles(page)] + _h1_texts(page)
    return list(dict.fromkeys([*raw, *(strip_site_suffix(title, keys) for title in raw)]))


def _metadata_titles(page: Page) -> list[Found[str]]:
    candidates = [
        (ld_text(ld_article_value(page, "headline")), "json-ld"),
        (page.meta_first("og:title"), "meta"),
        (page.meta_first("twitter:title"), "meta"),
        (_microdata_text(page, "headline"), "microdata"),
        (_title_element(page), "html"),
    ]
    return [Found(text[:_MAX_HEADLINE], rule) for text, rule in candidates if text]


def _title_element(page: Page) -> str | None:
    element = page.tree.find(".//title")
    return text_of(element) or None if element is not None else None


def _microdata_text(page: Page, name: str) -> str | None:
    for element in page.itemprops.get(name, ()):
        if text := clean_line(element.get("content") or "") or text_of(element):
            return text
    return None


def _h1_texts(page: Page) -> list[str]:
    texts = (text_of(h1) for h1 in page.tree.iterfind(".//h1"))
    return [text for text in texts if text and len(text) <= _MAX_HEADLINE]


def _similar(a: str, b: str) -> bool:
    """Same headline, reworded a little: most words of the shorter appear in the longer."""
    words_a, words_b = set(_WORD.findall(a.casefold())), set(_WORD.findall(b.casefold()))
    if not words_a or not words_b:
        return False
    shared = len(words_a & words_b)
    return shared / min(len(words_a), len(words_b)) >= 0.6 or shared / len(words_a | words_b) >= 0.5


def language(page: Page) -> Found[str] | None:
    """html lang, Content-Language, og:locale, JSON-LD inLanguage; "en" or "pt-br" style.

    A Content-Language meta that names another language beats <html lang>: templates often
    hard-code lang="en" while the page-level meta is set per document.
    """
    declared = _language_code(page.tree.get("lang") or page.tree.get("xml:lang") or "")
    meta = _language_code(page.meta_first("content-language", "language") or "")
    if meta and (not declared or meta.split("-")[0] != declared.split("-")[0]):
        return Found(meta, "meta")
    if declared:
        return Found(declared, "html")
    if code := _language_code(page.meta_first("og:locale") or ""):
        return Found(code, "meta")
    code = _language_code(ld_text(ld_article_value(page, "inLanguage")) or "")
    return Found(code, "json-ld") if code else None


def _language_code(value: str) -> str | None:
    code = value.split(",")[0].strip().lower().replace("_", "-")
    if not code:
        return None
    return code if len(code) <= 35 and _LANGUAGE.match(code) else None


def canonical_url(page: Page) -> Found[str] | None:
    for link in page.tree.iterfind(".//link[@rel]"):
        if "canonical" in link.get("rel", "").lower().split() and (
            url := page.resolve(link.get("href"))
        ):
            return Found(url, "html")
    url = page.resolve(page.meta_first("og:url"))
    return Found(url, "meta") if url else None


def description(page: Page) -> Found[str] | None:
    if text := page.meta_first("description", "og:description", "twitter:description"):
        return Found(text, "meta")
    text = ld_text(ld_article_value(page, "description"))
    return Found(text, "json-ld") if text else None


def top_image(page: Page) -> Found[str] | None:
    if url := page.resolve(page.meta_first("og:image", "og:image:url", "twitter:image")):
        return Found(url, "meta")
    image = ld_article_value(page, "image")
    image = image[0] if isinstance(image, list) and image else image
    url = page.resolve(image.get("url") if isinstance(image, dict) else image)
    return Found(url, "json-ld") if isinstance(url, str) else None


def tags(page: Page) -> Found[list[str]] | None:
    """article:tag metas, else keywords metas, else JSON-LD keywords."""
    candidates = [
        (page.meta.get("article:tag", []), "meta"),
        (
            _split_keywords(page.meta.get("keywords", []) + page.meta.get("news_keywords", [])),
            "meta",
        ),
        (_split_keywords(_ld_keywords(page)), "json-ld"),
    ]
    for values, rule in candidates:
        if found := _dedupe_tags(values):
            return Found(found, rule)
    return None


def _ld_keywords(page: Page) -> list[str]:
    value = ld_article_value(page, "keywords")
    values = value if isinstance(value, list) else [value]
    return [item for item in values if isinstance(item, str)]


def _split_keywords(values: list[str]) -> list[str]:
    return [part for value in values for part in value.split(",")]


def _dedupe_tags(values: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        tag = clean_line(value)
        if tag and len(tag) <= _MAX_TAG and tag.casefold() not in seen:
            seen[tag.casefold()] = tag
    return list(seen.values())[:_MAX_TAGS]
