"""The article body: trafilatura's text, checked against JSON-LD, cleared of page furniture."""

import html
import re
from collections import Counter
from dataclasses import dataclass, field

import trafilatura

from app.parsing.html.credits import closing_credit_wire, dateline_wire
from app.parsing.html.fallback import visible_blocks
from app.parsing.html.links import LinkIndex
from app.parsing.html.metadata import ld_article_value
from app.parsing.html.page import Found, Page
from app.schemas import RelatedLink
from app.text.labels import is_navigation_label
from app.text.normalize import clean_line, clean_text

# The seed-text format's line rules, applied to text pasted into a page.
_SOURCE_LINE = re.compile(r"^sources?\s*:\s*(?P<value>.{1,120})$", re.IGNORECASE)
_RELATED_LINE = re.compile(
    r"^(?:also read|read more|related|see also|read also|see more|more|don'?t miss|watch|"
    r"recommended|further reading)\s*:\s*(?P<value>.+)$",
    re.IGNORECASE,
)
_MAX_LINK_TITLE = 300
_TITLE_PUNCTUATION = " -–—|:·•»«>()[]<>\"'"
_URL = re.compile(r"""(?:https?://|www\.)[^\s<>"'\])]{1,2000}""", re.IGNORECASE)
# Furniture that extractors let through: ad labels, share bars, newsletter and follow prompts.
_BOILERPLATE = re.compile(
    r"^(?:advertisement|advertising|ad|sponsored|story continues below(?: advertisement)?|"
    r"continue reading(?: below| the main story)?|skip (?:ad|advertisement)|"
    r"scroll to continue(?: with content)?|share(?: this)?(?: article| story| on \w+)?|"
    r"tweet|email|print|comments?|\d+\s+comments?|click to share on .+|"
    r"image copyright.*|image caption|media playback is unsupported on your device)\W*$"
    r"|^(?:sign up|subscribe|get the latest|get our|want more|like this story|"
    r"if you enjoyed this article|follow (?:us|him|her|them|\w+) on|join the conversation|"
    r"have a tip\?|get access to|download the app)(?!\w).{0,300}$",
    re.IGNORECASE,
)
_NEWSLETTER = re.compile(r"\bnewsletters?\b|\bsubscribe\b|\bsign up\b|\binbox\b", re.IGNORECASE)
_MAX_LABEL = 60
_CJK_STOPS = ("。", "！", "？", "」")
_SHINGLE = 4
_MIN_LD_WORDS = 80
# Below this share of JSON-LD articleBody found in trafilatura's text, trafilatura missed it.
_LD_COVERAGE = 0.5
_WORDS = re.compile(r"\w+")
# A tag ends at the next "<" too: scanning 2,000 characters from every "<" of "<<<<…" cost
# 2,000 steps a character.
_TAG = re.compile(r"<[^<>]{0,2000}+>")
_BLOCK_TAG = re.compile(r"<(?:/p|br|/div|/h\d|/li|/blockquote)\b[^<>]{0,2000}+>", re.IGNORECASE)


@dataclass
class Body:
    """Paragraphs and what the text itself says about source and related articles."""

    paragraphs: list[str]
    rule: str
    source: Found[str] | None = None
    seed_links: list[RelatedLink] = field(default_factory=list)  # "Also read:" lines
    teaser_links: list[RelatedLink] = field(default_factory=list)  # lines that are one link


def extract_body(page: Page, titles: list[str], links: LinkIndex) -> Body | None:
    """The body's paragraphs, or None when neither trafilatura nor JSON-LD finds one, nor
    the page's visible text blocks (the fallback for broken pages)."""
    lines, rule = _choose(_trafilatura_lines(page), _json_ld_lines(page))
    body = _body(lines, rule, titles, links)
    if body is None:
        blocks = [line for line in visible_blocks(page.tree) if not _is_label(line)]
        body = _body(blocks, "fallback", titles, links)
    return body


def _body(lines: list[str], rule: str, titles: list[str], links: LinkIndex) -> Body | None:
    if not lines:
        return None
    body = Body(paragraphs=[], rule=rule)
    lines = _drop_leading_titles(lines, titles)
    body.source = _wire_credit(lines)
    for line in lines:
        if not _seed_line(line, body, links):
            body.paragraphs.append(line)
    body.paragraphs = [p for p in body.paragraphs if not _BOILERPLATE.match(p)]
    _move_link_lines(body, links)
    _drop_trailing_furniture(body.paragraphs)
    return body if body.paragraphs else None


def _trafilatura_lines(page: Page) -> list[str]:
    try:
        # favor_precision: on news pages the default's extra recall is mostly teasers and
        # captions. Metadata is off: the structured-data rules here are cheaper and stricter.
        document = trafilatura.bare_extraction(
            page.tree,
            url=page.url,
            favor_precision=True,
            include_comments=False,
            with_metadata=False,
        )
    except Exception:  # hostile markup must not fail the page, only leave it without a body
        return []
    text = getattr(document, "text", None) or ""
    return _lines(text)


def _lines(text: str) -> list[str]:
    return [
        line for line in (clean_line(raw).removeprefix("- ") for raw in text.split("\n")) if line
    ]


def _json_ld_lines(page: Page) -> list[str]:
    value = ld_article_value(page, "articleBody")
    if not isinstance(value, str):
        return []
    text = html.unescape(_TAG.sub(" ", _BLOCK_TAG.sub("\n", value)))
    return _lines(clean_text(text))


def _choose(extracted: list[str], declared: list[str]) -> tuple[list[str], str]:
    """trafilatura's text, unless the page's own articleBody shows it missed most of it."""
    declared_shingles = _shingles(" ".join(declared))
    if sum(declared_shingles.values()) < _MIN_LD_WORDS:
        return extracted, "trafilatura"
    covered = declared_shingles & _shingles(" ".join(extracted))
    if not extracted or sum(covered.values()) < _LD_COVERAGE * sum(declared_shingles.values()):
        return declared, "json-ld"
    return extracted, "trafilatura"


def _shingles(text: str) -> Counter[tuple[str, ...]]:
    words = _WORDS.findall(text.casefold())
    return Counter(tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1))


def _drop_leading_titles(lines: list[str], titles: list[str]) -> list[str]:
    """Extractors often repeat the headline (or a variant of it) as the first line."""
    keys = {_key(title) for title in titles if title}
    start = 0
    while start < min(len(lines), 2) and _key(lines[start]) in keys:
        start += 1
    return lines[start:]


def _key(text: str) -> str:
    return " ".join(_WORDS.findall(text.casefold()))


def _wire_credit(lines: list[str]) -> Found[str] | None:
    """A dateline "(AP) —" opening the text, or a closing "— Reuters" / "Reporting by …"."""
    wire = next(filter(None, map(dateline_wire, lines[:2])), None)
    wire = wire or next(filter(None, map(closing_credit_wire, reversed(lines[-3:]))), None)
    return Found(wire, "body-text") if wire else None


def _seed_line(line: str, body: Body, links: LinkIndex) -> bool:
    """Apply the seed-format rules to one line; True when the line is consumed."""
    if match := _SOURCE_LINE.match(line):
        body.source = Found(match["value"].rstrip(" ."), "seed-line")
        return True
    if match := _RELATED_LINE.match(line):
        if link := _related_link(match["value"], links):
            body.seed_links.append(link)
        return True
    return False


def _related_link(value: str, links: LinkIndex) -> RelatedLink | None:
    url_match = _URL.search(value)
    text = clean_line(value.replace(url_match.group(0), " ") if url_match else value)
    title = text.strip(_TITLE_PUNCTUATION)[:_MAX_LINK_TITLE] or None
    url = url_match.group(0).rstrip(".,;") if url_match else links.url_for_title(title)
    return RelatedLink(title=title, url=url) if title or url else None


def _move_link_lines(body: Body, links: LinkIndex) -> None:
    """Lines that are one link's whole text are teasers: they become related links."""
    kept: list[str] = []
    for line in body.paragraphs:
        if link := links.for_line(line):
            body.teaser_links.append(link)
            if kept and _is_label(kept[-1]):  # "Don't miss", "More on this story"
                kept.pop()
        else:
            kept.append(line)
    body.paragraphs = kept


def _is_label(line: str) -> bool:
    """A navigation label: the seed-text rule, plus a length cap for scripts without spaces."""
    return len(line) <= _MAX_LABEL and not line.endswith(_CJK_STOPS) and is_navigation_label(line)


def _drop_trailing_furniture(paragraphs: list[str]) -> None:
    """Trailing labels ("More from Sports") and newsletter prompts are not the article."""
    while paragraphs and (
        _is_label(paragraphs[-1])
        or (_NEWSLETTER.search(paragraphs[-1]) and len(paragraphs[-1]) < 200)
    ):
        paragraphs.pop()
