"""Links to other articles: anchors in or right after the body, never the site's chrome."""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from app.parsing.html.page import Page
from app.schemas import RelatedLink
from app.text.normalize import clean_line

_MIN_TITLE_WORDS = 3
_MAX_TITLE = 300
_MAX_AFTER_BODY = 10
_AFTER_BODY_ANCHORS = 40
# Characters of body scanned at most when looking for in-text links (~50 ms).
_IN_TEXT_SCAN = 50_000_000
# Site chrome: navigation, header, footer, menus, share bars and breadcrumbs.
_CHROME_TAGS = frozenset({"nav", "header", "footer", "form", "button"})
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "menu", "menubar", "search"})
_CHROME_MARKER = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|footer|header|masthead|breadcrumbs?|share|"
    r"sharing|social|subnav|topbar|site-?header|site-?footer|skip|pagination|tags?|comments?)"
    r"(?:$|[\s_-])"
)
# Paths that list or manage articles rather than being one.
_NOT_ARTICLE_PATH = re.compile(
    r"/(?:tags?|topics?|category|categories|section|authors?|people|profile|search|login|"
    r"signin|register|subscribe|subscription|newsletters?|account|about|contact|privacy|terms|"
    r"cookies?|feed|rss)(?:/|$)",
    re.IGNORECASE,
)
_ARTICLE_SEGMENT = re.compile(r"[-_]|\d|\.(?:s?html?|php|aspx?|jsp)$", re.IGNORECASE)
# Share endpoints carry the page being shared in a query parameter.
_SHARE_QUERY = re.compile(r"(?:^|&)(?:u|url|text|body|title)=", re.IGNORECASE)


@dataclass(frozen=True)
class Anchor:
    """A candidate article link and the element it came from."""

    title: str
    url: str
    element: HtmlElement


class LinkIndex:
    """The page's candidate article links, looked up by their anchor text."""

    def __init__(self, page: Page, own_urls: set[str]) -> None:
        self._page = page
        self._own = {_without_fragment(url) for url in own_urls}
        self.anchors = [a for a in _anchors(page) if _without_fragment(a.url) not in self._own]
        self._by_text: dict[str, Anchor] = {}
        for anchor in self.anchors:
            self._by_text.setdefault(anchor.title.casefold(), anchor)
        self._any_by_text: dict[str, HtmlElement] | None = None  # every <a href>, on demand

    def for_line(self, line: str) -> RelatedLink | None:
        """The link when a whole body line is one anchor's text (a "read this next" teaser)."""
        anchor = self._by_text.get(clean_line(line).casefold())
        return RelatedLink(title=anchor.title, url=anchor.url) if anchor else None

    def url_for_title(self, title: str | None) -> str | None:
        """The URL of the anchor titled `title` ("Also read: <a>Title</a>"), if any."""
        key = clean_line(title or "").casefold()
        if anchor := self._by_text.get(key):
            return anchor.url
        if self._any_by_text is None:  # short titles: indexed once (a scan per title was
            self._any_by_text = {}  # quadratic in a page of such lines and links)
            for element in self._page.tree.iterfind(".//a[@href]"):
                self._any_by_text.setdefault(clean_line(element.text_content()).casefold(), element)
        element = self._any_by_text.get(key) if key else None
        return self._page.resolve(element.get("href")) if element is not None else None

    def in_text(self, body: str) -> list[RelatedLink]:
        """Anchors whose text sits inside the body's paragraphs (in-text links). Each search
        scans the body, so only titles whose first words occur in it are searched, and at
        most a budget of characters is scanned: thousands of links beside a long body
        would otherwise cost links x body."""
        folded = body.casefold()
        words = folded.split()
        openings = {" ".join(words[i : i + _MIN_TITLE_WORDS]) for i in range(len(words))}
        budget = _IN_TEXT_SCAN
        found = []
        for anchor in self.anchors:
            title = anchor.title.casefold()
            if " ".join(title.split()[:_MIN_TITLE_WORDS]) not in openings:
                continue
            budget -= len(folded)
            if budget < 0:
                break
            if title in folded:
                found.append(RelatedLink(title=anchor.title, url=anchor.url))
        return found

    def after(self, last_paragraph: str) -> list[RelatedLink]:
        """Article links in the elements that follow the body's last paragraph."""
        end = _find_paragraph(self._page, last_paragraph)
        if end is None:
            return []
        wanted = {id(a.element): a for a in self.anchors}
        found: list[RelatedLink] = []
        for element in end.xpath("following::a[@href]")[:_AFTER_BODY_ANCHORS]:
            if anchor := wanted.get(id(element)):
                found.append(RelatedLink(title=anchor.title, url=anchor.url))
        return found[:_MAX_AFTER_BODY]


def _anchors(page: Page) -> list[Anchor]:
    found = []
    in_chrome = _Chrome()
    for element in page.tree.iterfind(".//a[@href]"):
        text = element.text_content()
        # Cheap tests first: most anchors on a page are one- or two-word menu items.
        if len(text) > _MAX_TITLE * 2 or len(text.split()) < _MIN_TITLE_WORDS:
            continue
        url = page.resolve(element.get("href"))
        if url is None or not _article_like(url) or in_chrome(element):
            continue
        found.append(Anchor(clean_line(text), url.split("#", 1)[0], element))
    return found


def _article_like(url: str) -> bool:
    """Article URLs end in a slug, an id or a page file; "/world/" is a section front."""
    parts = urlsplit(url)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return (
        bool(_ARTICLE_SEGMENT.search(last))
        and not _NOT_ARTICLE_PATH.search(parts.path)
        and not _SHARE_QUERY.search(parts.query)
    )


class _Chrome:
    """Whether an element sits in site chrome. Answers are kept per ancestor, so that each
    element's attributes are read once however many links sit below it (a huge class on
    the parent of thousands of links cost links x class size)."""

    def __init__(self) -> None:
        self._known: dict[HtmlElement, bool] = {}  # element -> it or an ancestor is chrome

    def __call__(self, element: HtmlElement) -> bool:
        path: list[HtmlElement] = []
        inside = False
        for ancestor in element.iterancestors():
            if ancestor in self._known:
                inside = self._known[ancestor]
                break
            path.append(ancestor)
            if _is_chrome(ancestor):
                inside = True
                break
        self._known.update(dict.fromkeys(path, inside))
        return inside


def _is_chrome(element: HtmlElement) -> bool:
    if element.tag in _CHROME_TAGS or element.get("role", "").lower() in _CHROME_ROLES:
        return True
    marker = f"{element.get('class', '')} {element.get('id', '')}".lower()
    return bool(marker.strip() and _CHROME_MARKER.search(marker))


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0].rstrip("/")


def _find_paragraph(page: Page, text: str) -> HtmlElement | None:
    key = clean_line(text)[:80]
    if len(key) < 20:
        return None
    for element in page.tree.iter("p", "li"):
        if clean_line(element.text_content()).startswith(key):
            return element
    return None
