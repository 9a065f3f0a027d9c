"""Every request's CPU cost is bounded by its size, near-linearly: each parser and body
helper runs on hostile input of size n and 8n, and the larger may cost at most 12 times the
smaller (a quadratic path costs 64 times), plus a floor of half a CPU second so that timer
noise on a loaded machine never fails a linear path. Sizes are chosen so that each of the
quadratic paths these tests were written against (punycode, difflib, canonical reordering
of combining marks, snippet windows, "reporting by … editing by", AMP folding, NDJSON
buffering) costs seconds at n and far more at 8n.

CPU time of the calling thread (time.thread_time), not wall-clock time: other processes on a
shared machine slow the wall clock several-fold."""

import asyncio
import contextlib
import random
import sys
import time
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from starlette.requests import Request

from app.api.request_bodies import lines
from app.errors import InvalidInput, PayloadTooLarge, Unprocessable
from app.neardup import DEFAULT as NEAR_DUPLICATES
from app.parsing import charsets
from app.parsing.diff import diff_paragraphs, diff_stats
from app.parsing.html import extract_article
from app.parsing.html.credits import closing_credit_wire
from app.parsing.html.links import LinkIndex
from app.parsing.html.page import load_page
from app.parsing.jsondoc import parse_json
from app.parsing.seed_text import parse_seed_text
from app.parsing.urls import normalize_url
from app.search.query import parse_query
from app.search.snippets import snippet, stemmer
from app.text.normalize import normalize_body, stream_safe

GROWTH = 8
MAX_RATIO = 12
FLOOR = 0.5  # CPU seconds

Make = Callable[[int], Any]


def cpu_seconds(run: Callable[[Any], Any], argument: Any) -> float:
    start = time.thread_time()
    with contextlib.suppress(Unprocessable, InvalidInput, PayloadTooLarge):
        run(argument)
    return time.thread_time() - start


def assert_near_linear(run: Callable[[Any], Any], make: Make, n: int) -> None:
    """run(make(8n)) costs at most 12 times run(make(n)), plus FLOOR."""
    cpu_seconds(run, make(max(1, n // GROWTH)))  # warm-up: lazy tables, stop lists, caches
    small_input, big_input = make(n), make(GROWTH * n)
    small = cpu_seconds(run, small_input)
    big = cpu_seconds(run, big_input)
    assert big < MAX_RATIO * small + FLOOR, (
        f"{GROWTH}x the input cost {big / max(small, 1e-6):.0f}x the CPU "
        f"({small:.3f} s -> {big:.3f} s; at most {MAX_RATIO}x + {FLOOR} s)"
    )


# ---- character sets ------------------------------------------------------------------------

ALLOWED = sorted(
    {e.name for label in charsets.webencodings.LABELS if (e := charsets.lookup(label))}
)


def test_only_web_encodings_are_accepted() -> None:
    for label in ("punycode", "utf-7", "idna", "rot13", "base64", "zlib", "unicode_escape"):
        assert charsets.lookup(label) is None, label
    assert charsets.lookup("replacement") is None  # decodes anything to one U+FFFD
    assert charsets.lookup("latin-1").name == "windows-1252"  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ALLOWED)
def test_every_accepted_encoding_decodes_in_linear_time(name: str) -> None:
    """Punycode's decoder is quadratic in a body like this one; no accepted codec may be."""
    encoding = charsets.lookup(name)
    assert encoding is not None
    assert_near_linear(
        lambda body: charsets.decode(body, encoding, "replace"),
        lambda n: b"-" + b"a" * n,
        100_000,
    )


# ---- text hygiene, queries, signatures: Unicode normalization ------------------------------

# Alternating combining classes (230, 220): CPython sorts each run of marks by insertion
# sort, so a run of n marks costs n^2 / 2 swaps unless `stream_safe` breaks it up.
MARKS = "\u0301\u0316"
# Characters whose compatibility decompositions are marks of descending classes.
COMPAT_MARKS = "\u0f73\uff9e"


def test_stream_safe_knows_every_reordered_mark() -> None:
    """`stream_safe` looks for marks in planes 0 and 1 only: there are none elsewhere."""
    for code in range(0x20000, sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.combining(char) or unicodedata.decomposition(char):
            assert not unicodedata.combining(unicodedata.normalize("NFKD", char)[0]), hex(code)
    run = "a" + MARKS * 100
    assert unicodedata.normalize("NFC", stream_safe(run)).replace("\u034f", "") != run
    assert stream_safe("Vie\u0302\u0323t e\u0301") == "Vie\u0302\u0323t e\u0301"


@pytest.mark.parametrize(
    ("run", "make", "n"),
    [
        (normalize_body, lambda n: "Headline\n\na" + MARKS * n, 20_000),
        (parse_seed_text, lambda n: "Headline\n\na" + MARKS * n, 20_000),
        (parse_query, lambda n: "storm a" + COMPAT_MARKS * n, 20_000),
        (NEAR_DUPLICATES.signature, lambda n: "a" + COMPAT_MARKS * n, 20_000),
    ],
    ids=["clean-text", "seed-text", "query", "near-duplicate-signature"],
)
def test_normalization_of_long_mark_runs_is_linear(
    run: Callable[[str], Any], make: Make, n: int
) -> None:
    assert_near_linear(run, make, n)


# ---- paragraph diff ------------------------------------------------------------------------


def _bodies(old: list[str], new: list[str]) -> tuple[str, str]:
    return "\n\n".join(old), "\n\n".join(new)


_rng = random.Random(7)
DIFFS: dict[str, Make] = {
    "identical-paragraphs": lambda n: _bodies(["Intro.", *["Same."] * n], [*["Same."] * n, "End."]),
    "one-in-two-changed": lambda n: _bodies(["Same."] * n, ["Same.", "New."] * (n // 2)),
    "swapped-pairs": lambda n: _bodies(["a", "b"] * (n // 2), ["b", "a"] * (n // 2)),
    "four-paragraphs-shuffled": lambda n: _bodies(
        [_rng.choice("abcd") for _ in range(n)], [_rng.choice("abcd") for _ in range(n)]
    ),
    "unique-paragraphs-shuffled": lambda n: _bodies(
        [f"p{i}" for i in range(n)], [f"p{i}" for i in _rng.sample(range(n), n)]
    ),
}


@pytest.mark.parametrize("make", DIFFS.values(), ids=DIFFS)
def test_paragraph_diff_is_near_linear(make: Make) -> None:
    assert_near_linear(lambda bodies: diff_stats(*bodies), make, 4_000)


def test_diff_keeps_every_paragraph_in_order() -> None:
    """Whatever the budget left unmatched, the chunks still spell out both versions."""
    for make in DIFFS.values():
        old, new = make(3_000)
        chunks = diff_paragraphs(old, new)
        assert "\n\n".join(p for c in chunks for p in c.old) == old
        assert "\n\n".join(p for c in chunks for p in c.new) == new
        assert all(c.old == c.new for c in chunks if c.op == "equal")


# ---- search snippets, URLs, credits --------------------------------------------------------


def test_snippet_of_a_body_that_matches_everywhere_is_linear() -> None:
    terms = parse_query("storm ports")
    stem = stemmer("porter")
    assert_near_linear(lambda body: snippet(body, terms, stem), lambda n: "storm ports " * n, 5_000)


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "https://ex.com/" + "amp/" * n + "story",
        lambda n: "https://ex.com/story" + ".amp" * n,
        lambda n: "https://ex.com/" + "a/../" * n + "?" + "utm_source=x&" * n,
    ],
    ids=["amp-segments", "amp-suffixes", "dot-dots-and-tracking"],
)
def test_url_normalization_is_linear(make: Make) -> None:
    assert_near_linear(normalize_url, make, 16_000)


def test_closing_credit_line_is_linear() -> None:
    assert_near_linear(closing_credit_wire, lambda n: "reporting by " * n, 2_000)


# ---- HTML extraction -----------------------------------------------------------------------

PARAGRAPH = "<p>The storm closed every port along the coast on Tuesday, officials said.</p>"


def _page(inside: str, head: str = "") -> str:
    return f"<html><head><title>Storm</title>{head}</head><body><article>{PARAGRAPH}{inside}"


PAGES: dict[str, Make] = {
    "reporting-by-paragraph": lambda n: _page(f"<p>{'Reporting by ' * n}</p>"),
    "combining-marks": lambda n: _page(f"<p>Ports closed. a{MARKS * n}</p>"),
    "json-ld-body-of-angle-brackets": lambda n: _page(
        "",
        '<script type="application/ld+json">{"@type": "NewsArticle", "articleBody": "'
        + "<br" * n
        + '"}</script>',
    ),
    "links-under-a-huge-class": lambda n: _page(
        f'<div class="{"x" * (20 * n)}">' + '<a href="/news/2020/01/01/story-a">Story</a>' * n
    ),
    "broken-page-for-the-fallback": lambda n: (
        "<html><body>" + "<aside><p>The storm closed every <b>port, officials said.<i>" * n
    ),
}


@pytest.mark.parametrize("make", PAGES.values(), ids=PAGES)
def test_html_extraction_is_near_linear(make: Make) -> None:
    assert_near_linear(extract_article, make, 2_000)


def _links(n: int) -> tuple[LinkIndex, list[str]]:
    """A page of n article links under one huge class, and n lines naming no link."""
    anchors = "".join(f'<a href="/news/story-{i}">Harbour story number {i}</a> ' for i in range(n))
    page = load_page(
        f'<html><body><div class="{"x" * (20 * n)}">{anchors}</div>', "https://example.com/", None
    )
    return LinkIndex(page, set()), [f"Missing title number {i} here" for i in range(n)]


def test_link_lookups_are_linear() -> None:
    """Each link's ancestors are read once, not once per link below them; titles without a
    candidate link are looked up in one index of every link, not a scan each."""

    def look_up_every_title(n: int) -> list[str | None]:
        index, titles = _links(n)
        return [index.url_for_title(title) for title in titles]

    assert_near_linear(look_up_every_title, int, 2_000)
    index, titles = _links(1_000)
    assert len(index.anchors) == 1_000
    assert index.url_for_title("Harbour story number 7") == "https://example.com/news/story-7"
    assert index.url_for_title(titles[0]) is None
    assert_near_linear(
        lambda n: _links(n)[0].in_text(" ".join(["Harbour story number"] * 10 * n)), int, 2_000
    )


# ---- request bodies ------------------------------------------------------------------------


def test_json_checks_are_linear() -> None:
    assert_near_linear(
        parse_json, lambda n: ('{"items": [' + '{"a": [1, "x"]},' * n)[:-1] + "]}", 20_000
    )
    assert_near_linear(parse_json, lambda n: "[" * 60 + '"x",' * n + '"y"' + "]" * 60, 50_000)


def _ndjson_line_in_drips(size: int) -> int:
    """One NDJSON line of `size` bytes, received 64 bytes at a time: the lines it yields."""
    body = b'{"text": "' + b"a" * size + b'"}\n'
    messages = iter(
        {"type": "http.request", "body": body[i : i + 64], "more_body": i + 64 < len(body)}
        for i in range(0, len(body), 64)
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def read() -> int:
        request = Request({"type": "http", "method": "POST", "headers": []}, receive)
        return len([line async for line in lines(request, 4 * size, 4 * size)])

    return asyncio.run(read())


def test_dripped_ndjson_line_is_split_in_linear_time() -> None:
    assert _ndjson_line_in_drips(10_000) == 1
    assert_near_linear(_ndjson_line_in_drips, lambda n: n, 250_000)
