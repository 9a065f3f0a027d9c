"""One parsed page: the lxml tree plus its JSON-LD objects, meta tags and microdata, read once."""

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from operator import itemgetter
from typing import Any, Generic, NamedTuple, TypeVar
from urllib.parse import urljoin, urlsplit

import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.utils import decode_file

from app.errors import Unprocessable
from app.parsing import charsets
from app.text.normalize import clean_line, stream_safe

T = TypeVar("T")
NO_BODY = "no article body found on the page"
INVISIBLE_TAGS = frozenset({"script", "style", "noscript", "template"})
# fmt: off
BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
    "ol", "p", "section", "table", "td", "th", "tr", "ul",
})
# fmt: on
# Limits that keep hostile pages cheap: JSON-LD blobs and meta values past these are noise.
_MAX_JSON_LD = 2_000_000
_MAX_META = 10_000
_MAX_URL = 2048
_JSON_COMMENT = re.compile(
    r"^\s*(?:<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(?:-->|//\s*\]\]>|\]\]>)\s*$"
)
# Trailing commas before a closing bracket: the commonest hand-written JSON-LD error.
_TRAILING_COMMA = re.compile(r",\s*([\]}])")
# libxml2 compares each attribute of a tag with all the tag's earlier ones: a tag with 100,000
# attributes takes minutes to parse. Real tags have a few dozen, so the rest are dropped first.
# Tokenized as HTML5 does (`/`, a closing quote and a leading `=` also start an attribute),
# possessively, so no spelling of an attribute slips past it. Every tag matches (most are
# replaced by themselves): a pattern that could fail after a long scan would rescan from the
# next "<" and take quadratic time itself.
_MAX_ATTRIBUTES = 100
_ATTRIBUTE = r"""(?>[\s/]*+[^\s/>][^\s/>=]*+(?:\s*+=\s*+(?:"[^"]*+"|'[^']*+'|[^\s>]*+))?)"""
_EXCESS = rf"(</?[A-Za-z][^\s/>]*+{_ATTRIBUTE}{{0,{_MAX_ATTRIBUTES}}}+){_ATTRIBUTE}*+"
_EXCESS_ATTRIBUTES = re.compile(_EXCESS)
# fmt: off
ARTICLE_TYPES = frozenset({
    "article", "newsarticle", "blogposting", "reportagenewsarticle", "analysisnewsarticle",
    "opinionnewsarticle", "reviewnewsarticle", "backgroundnewsarticle", "report",
    "scholarlyarticle", "techarticle", "liveblogposting", "socialmediaposting", "posting",
})
# fmt: on


class Found(NamedTuple, Generic[T]):
    """A field value and the rule that produced it (extraction provenance)."""

    value: T
    rule: str


@dataclass
class Page:
    """The parsed tree and the structured data every field rule reads."""

    tree: HtmlElement
    url: str | None
    json_ld: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)
    itemprops: dict[str, list[HtmlElement]] = field(default_factory=dict)

    def meta_first(self, *names: str) -> str | None:
        """The first non-blank content among meta tags named (name/property) `names`."""
        for name in names:
            for value in self.meta.get(name, ()):
                # CMSs often escape twice: "&#039;" survives parsing as text.
                if value := clean_line(unescape(value)):
                    return value
        return None

    def articles(self) -> list[dict[str, Any]]:
        """JSON-LD objects typed as an article, in page order."""
        return [obj for obj in self.json_ld if ARTICLE_TYPES & ld_types(obj)]

    def ld_resolve(self, value: Any) -> Any:
        """Follow a JSON-LD {"@id": ...} reference to the object it names (Yoast-style @graph)."""
        if isinstance(value, dict) and set(value) == {"@id"}:
            for obj in self.json_ld:
                if obj.get("@id") == value["@id"] and obj is not value:
                    return obj
        return value

    def resolve(self, href: Any) -> str | None:
        """An absolute http(s) URL for `href`, resolved against the page URL, else None."""
        href = clean_line(href) if isinstance(href, str) else ""
        if not href or len(href) > _MAX_URL:
            return None
        try:
            absolute = urljoin(self.url or "", href)
            scheme = urlsplit(absolute).scheme
        except ValueError:  # malformed IPv6 brackets and the like
            return None
        # Joined to a long page URL, a short href can still outgrow what the archive stores.
        return absolute if scheme in ("http", "https") and len(absolute) <= _MAX_URL else None


def load_page(html: bytes | str, url: str | None, charset: str | None) -> Page:
    """Decode and parse once; raises Unprocessable when there is no HTML tree at all."""
    tree = _parse(_decode(html, charset))
    if tree is None:
        raise Unprocessable(NO_BODY)
    page = Page(tree=tree, url=url)
    page.json_ld = list(_json_ld_objects(tree))
    page.meta = _meta_tags(tree)
    page.itemprops = _itemprops(tree)
    return page


def _decode(html: bytes | str, charset: str | None) -> str:
    """Text by the header's charset, else by the page's `<meta charset>` when the bytes are
    not UTF-8, else as trafilatura sniffs it (UTF-8, then charset_normalizer). A label
    outside the Encoding Standard is ignored, as browsers ignore it. Long runs of combining
    marks are broken up (`stream_safe`): trafilatura puts the text it extracts in NFC."""
    if isinstance(html, bytes):
        encoding = charsets.lookup(charset) if charset else None
        if encoding is None and (declared := charsets.declared_in_page(html)):
            encoding = None if _utf8(html) else declared
        html = charsets.decode(html, encoding, "replace") if encoding else decode_file(html)
    return html if unicodedata.is_normalized("NFC", html) else stream_safe(html)


def _utf8(html: bytes) -> bool:
    try:
        html.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse(html: str) -> HtmlElement | None:
    # itemgetter(1): the tag up to its first _MAX_ATTRIBUTES attributes, with no per-match
    # template expansion in Python
    html = _EXCESS_ATTRIBUTES.sub(itemgetter(1), html)
    # trafilatura.load_html repairs and parses exactly as trafilatura's own extraction
    # does, so the one tree serves both our rules and its body extraction.
    tree = trafilatura.load_html(html)
    if tree is None and html:
        # A bare fragment (no <html>, one block) is rejected as "dubious"; wrap it.
        tree = trafilatura.load_html(f"<html><body><div>{html}</div></body></html>")
    return tree


def ld_types(obj: dict[str, Any]) -> set[str]:
    """An object's JSON-LD @type(s), lower-cased."""
    kind = obj.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _json_ld_objects(tree: HtmlElement) -> Iterator[dict[str, Any]]:
    for script in tree.iterfind('.//script[@type="application/ld+json"]'):
        data = _loads(script.text or "")
        yield from _flatten(data, depth=0)


def _loads(text: str) -> Any:
    if len(text) > _MAX_JSON_LD:
        return None
    text = _JSON_COMMENT.sub("", text.strip())
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            # strict=False accepts raw control characters inside strings (common in CMS output)
            return json.loads(attempt, strict=False)
        except (ValueError, RecursionError):
            continue
    return None


def _flatten(data: Any, depth: int) -> Iterator[dict[str, Any]]:
    """Top-level objects, list members and @graph members: the places articles live."""
    if depth > 3:
        return
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item, depth + 1)
    elif isinstance(data, dict):
        graph = data.get("@graph")
        if isinstance(graph, list):
            yield from _flatten(graph, depth + 1)
        if "@type" in data:
            yield data


def _meta_tags(tree: HtmlElement) -> dict[str, list[str]]:
    meta: dict[str, list[str]] = {}
    for element in tree.iterfind(".//meta"):
        content = element.get("content")
        if content is None or len(content) > _MAX_META:
            continue
        for attribute in ("property", "name", "http-equiv"):
            if key := (element.get(attribute) or "").strip().lower():
                meta.setdefault(key, []).append(content)
    return meta


def _itemprops(tree: HtmlElement) -> dict[str, list[HtmlElement]]:
    found: dict[str, list[HtmlElement]] = {}
    for element in tree.xpath("//*[@itemprop]"):
        for name in element.get("itemprop", "").split():
            found.setdefault(name, []).append(element)
    return found


def text_of(element: HtmlElement) -> str:
    """Visible text of an element, one line, without script or style contents."""
    parts: list[str] = []
    hidden = 0
    for event, node in etree.iterwalk(element, events=("start", "end")):
        invisible = node.tag in INVISIBLE_TAGS or not isinstance(node.tag, str)
        if node.tag in BLOCK_TAGS:  # blocks and <br> separate words; inline tags do not
            parts.append(" ")
        if event == "start":
            hidden += invisible
            if not hidden and node.text:
                parts.append(node.text)
            continue
        hidden -= invisible
        if not hidden and node is not element and node.tail:
            parts.append(node.tail)
    return clean_line("".join(parts))
