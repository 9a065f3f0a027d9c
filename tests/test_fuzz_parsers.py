"""Fuzzing the pure parsers for crashes and hangs (hypothesis, plus hand-made pathological
documents): whatever the input, each parser returns or raises only its own error
(Unprocessable, InvalidInput), and answers within a time limit."""

import contextlib
import json
import string
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import InvalidInput, Unprocessable
from app.parsing.html import extract_article
from app.parsing.seed_text import parse_seed_text
from app.parsing.urls import normalize_url, url_domain
from app.search.engines import to_fts5, to_tsquery
from app.search.query import parse_query
from app.text import normalize
from tests.conftest import ROOT

T = TypeVar("T")
# CPU seconds per call, for the generated inputs (tens of kilobytes at most). CPU time, because
# other processes on a shared CI machine inflate wall-clock time several-fold; wall-clock time
# is bounded too, more loosely (a parser that waits would be as stuck as one that spins).
# The slowest call here takes 0.3 s of CPU; CI machines have measured three times slower.
LIMIT = 5.0
WALL_CLOCK_FACTOR = 5
# Megabyte-sized pathological pages: a hang guard, not a speed target. Extraction (trafilatura,
# htmldate) is linear but takes a second or two per megabyte of such a page here, and CI
# machines have measured three times slower; the blow-ups this guards against (quadratic or
# worse) take minutes on such a page. So the bound is well above any linear cost seen, and far
# below a blow-up.
HTML_LIMIT_PER_MB = 30.0
HTML_LIMIT_FLOOR = 10.0
FUZZ = settings(
    max_examples=150,
    deadline=None,  # LIMIT is checked by hand, on CPU time and with a message
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def timed(limit: float, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """parse(*args, **kwargs), or None when it raised its own error; fails past `limit`."""
    cpu, wall = time.thread_time(), time.perf_counter()
    try:
        result: T | None = parse(*args, **kwargs)
    except (Unprocessable, InvalidInput):
        result = None
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    name = parse.__name__
    assert cpu < limit, f"{name} took {cpu:.2f} s of CPU (limit {limit} s)"
    assert wall < limit * WALL_CLOCK_FACTOR, f"{name} took {wall:.2f} s (limit {limit} s of CPU)"
    return result


@pytest.fixture(scope="module", autouse=True)
def warm_up() -> None:
    """Load what extraction loads once per process (justext's stop lists, read when a page
    has next to no text, take a second or more), so no single document is charged for it."""
    with contextlib.suppress(Unprocessable):
        extract_article("<html><body><p>x</p></body></html>")


def html_limit(document: str | bytes) -> float:
    return max(HTML_LIMIT_FLOOR, HTML_LIMIT_PER_MB * len(document) / 1_000_000)


# Any code point, lone surrogates included: the parsers are pure and must take any str.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
# Characters the text rules care about: line breaks and spaces of every kind, invisibles,
# controls, markers' punctuation, sentence ends, combining marks (NFC), ZWJ.
TRICKY = (
    "\n\r\x0b\x0c\x85\u2028\u2029\t \xa0\u3000\u200b\u200c\u200d\ufeff\u00ad\x00\x7f"
    ":.?!…\"'»)]-–—|•e\u0301"
)
TEXT = st.text(st.one_of(ANY_CHAR, st.sampled_from(TRICKY)), max_size=300)


# ---- seed text ---------------------------------------------------------------------------

_MARKERS = ["Source:", "SOURCES :", "source:", "Also read:", "Read more:", "Related:", "See also:"]
_URLS = st.sampled_from(
    ["https://example.com/a", "http://x.y/", "www.example.com/story", "https://", "www.", "http:"]
)
_SEED_LINE = st.one_of(
    TEXT,
    st.just(""),
    st.builds(lambda m, v: f"{m} {v}", st.sampled_from(_MARKERS), TEXT),
    st.builds(lambda m, u, t: f"{m} {t} {u}", st.sampled_from(_MARKERS[3:]), _URLS, TEXT),
    st.sampled_from(["Latest news", "Most read", "He declined to comment.", "Share"]),
)
SEED_TEXT = st.lists(_SEED_LINE, max_size=60).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n", "\n\n", "\u2028"]).map(lambda nl: nl.join(lines))
)


@FUZZ
@given(st.one_of(SEED_TEXT, TEXT))
def test_seed_text_parser_never_crashes(text: str) -> None:
    article = timed(LIMIT, parse_seed_text, text)
    if article is not None:
        assert article.headline
        assert article.body
        assert "\x00" not in article.headline + article.body


# ---- HTML ----------------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
# The keys the extraction rules read, with values of any JSON type (a string where a list is
# expected, an object where a date is, and so on).
_LD_KEYS = [
    "@type", "@id", "@graph", "headline", "name", "alternativeHeadline", "author", "creator",
    "publisher", "datePublished", "dateModified", "dateCreated", "uploadDate", "image", "url",
    "mainEntityOfPage", "inLanguage", "description", "keywords", "articleBody", "isPartOf",
    "sourceOrganization", "articleSection", "logo", "sameAs",
]  # fmt: skip
_LD_TYPES = st.sampled_from(["NewsArticle", "Article", "WebPage", "Organization", "Person"])
_LD_OBJECT = st.dictionaries(st.sampled_from(_LD_KEYS), _JSON | _LD_TYPES, max_size=8).map(
    lambda obj: {"@type": "NewsArticle", **obj}
)
_LD = st.one_of(
    _LD_OBJECT.map(json.dumps),
    st.lists(_LD_OBJECT, max_size=3).map(lambda graph: json.dumps({"@graph": graph})),
    _JSON.map(json.dumps),
    TEXT,
).map(lambda text: f'<script type="application/ld+json">{text}</script>')
_META_NAMES = [
    "og:title", "og:url", "og:image", "og:site_name", "og:description", "og:locale",
    "description", "keywords", "news_keywords", "author", "byl", "article:author",
    "article:published_time", "article:modified_time", "date", "pubdate", "dc.date",
    "parsely-pub-date", "twitter:title", "twitter:site", "content-language", "citation_date",
]  # fmt: skip
_META_NAME = st.sampled_from(_META_NAMES)
_VALUE = st.one_of(
    TEXT,
    st.sampled_from(
        [
            "2019-11-18T04:58:00Z", "2019-11-18 20:58", "Mon, 18 Nov 2019 20:58:00 -0500",
            "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1970-01-01", "99999",
            "http://[::1", "//cdn.example/x.jpg", "javascript:alert(1)", "https://ex.com/a?b#c",
            "By Jane Doe and John Roe, Reuters", "en-US", "xx_YY", "&amp;#039;", "8:19 PM EST",
        ]
    ),
)  # fmt: skip
_TAG = st.sampled_from(
    ["div", "p", "a", "h1", "h2", "article", "main", "span", "time", "li", "table", "figure"]
)
_ATTRIBUTE = st.sampled_from(
    ["href", "datetime", "class", "id", "rel", "itemprop", "content", "lang", "itemtype"]
)
_FRAGMENT = st.one_of(
    TEXT,
    _LD,
    st.builds(lambda n, v: f'<meta name="{n}" content="{v}">', _META_NAME, _VALUE),
    st.builds(lambda n, v: f'<meta property="{n}" content="{v}">', _META_NAME, _VALUE),
    st.builds(
        lambda tag, attrs: f"<{tag} " + " ".join(f'{a}="{v}"' for a, v in attrs) + ">",
        _TAG,
        st.lists(st.tuples(_ATTRIBUTE, _VALUE), max_size=4),
    ),
    st.builds(lambda tag: f"</{tag}>", _TAG),
    st.builds(lambda v: f'<link rel="canonical" href="{v}">', _VALUE),
    st.builds(lambda v: f"<p>By {v}</p>", _VALUE),
    st.builds(lambda v: f"<p>Source: {v}</p><p>Also read: {v}</p>", _VALUE),
    st.builds(lambda v: f"<html lang='{v}'><title>{v}</title>", _VALUE),
    st.sampled_from(["<!--", "-->", "<![CDATA[", "]]>", "&amp;", "&#0;", "&#xD800;", "<br/>"]),
    st.sampled_from(["<p>The storm closed every port on the coast, officials said on Monday.</p>"]),
)  # fmt: skip
HTML = st.lists(_FRAGMENT, max_size=60).map("".join)


@FUZZ
@given(
    html=st.one_of(HTML, HTML.map(lambda text: text.encode("utf-8", "surrogatepass"))),
    url=st.one_of(st.none(), _VALUE, st.just("https://coast.example/2019/11/18/storm")),
    charset=st.one_of(st.none(), st.sampled_from(["utf-8", "latin-1", "utf-16", "bogus"])),
)
def test_html_extractor_never_crashes(html: str | bytes, url: str | None, charset: str) -> None:
    article = timed(LIMIT, extract_article, html, url, charset=charset)
    if article is not None:
        assert article.headline
        assert article.body


# ---- search queries, URLs, text hygiene ------------------------------------------------------

QUERY = st.text(st.one_of(ANY_CHAR, st.sampled_from("\"-*' ()^:NEARANDOR")), max_size=200)


@FUZZ
@given(QUERY)
def test_query_parser_never_crashes_and_never_leaks_syntax(text: str) -> None:
    terms = timed(LIMIT, parse_query, text)
    if terms is None:
        return
    assert any(not term.negated for term in terms)
    for term in terms:
        assert term.words
        assert all(word.isalnum() or not word.isascii() for word in term.words)
        assert not any(c in word for word in term.words for c in "\"'*-:() ")
    assert to_fts5(terms).count('"') == 2 * len(terms)
    assert to_tsquery(terms).count("'") == 2 * sum(len(t.words) for t in terms)


_URL_PART = st.one_of(
    TEXT,
    st.text(string.ascii_letters + string.digits + "-._~%:/?#[]@!$&'()*+,;=", max_size=40),
    st.sampled_from(
        [
            "[::1]", "[v1.x]", "[", "%", "%zz", "%ED%A0%80", "xn--", "xn--zz", "..", "./",
            "www.", "m.", "amp.", ".cdn.ampproject.org/c/s/", "google.com/amp/s/", "ex.com.",
            ":0", ":99999", ":-1", "user:pw@", ";jsessionid=1", "?utm_source=x&a=", "#frag",
            "ドメイン.テスト", "💩.la", "a" * 64, "xn--" + "a" * 70,
        ]
    ),
)  # fmt: skip
URL = st.builds(
    lambda scheme, parts: scheme + "".join(parts),
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", "", "https:"]),
    st.lists(_URL_PART, max_size=8),
)


@FUZZ
@given(URL)
def test_url_normalization_never_crashes(url: str) -> None:
    key = timed(LIMIT, normalize_url, url)
    assert key is None or key.startswith("https://")
    domain = timed(LIMIT, url_domain, url)
    assert domain is None or isinstance(domain, str)


@FUZZ
@given(st.one_of(TEXT, SEED_TEXT))
def test_text_hygiene_is_total_and_idempotent(text: str) -> None:
    cleaned = timed(LIMIT, normalize.clean_text, text)
    assert cleaned is not None
    assert normalize.clean_text(cleaned) == cleaned
    assert not any(c in cleaned for c in "\r\x00\x0b\x0c\u2028\u2029\u200b\ufeff")
    body = timed(LIMIT, normalize.normalize_body, text)
    assert body is not None
    assert normalize.normalize_body(body) == body
    assert "\n\n\n" not in body
    assert "  " not in body
    line = normalize.clean_line(text)
    assert "\n" not in line
    assert line == line.strip()
    assert len(normalize.content_hash(line, body)) == 64


# ---- pathological documents ---------------------------------------------------------------

MB = 1_000_000
PATHOLOGICAL_SEEDS = {
    "1MB-single-line": "word " * (MB // 5),
    "1MB-line-after-headline": "Headline\n\n" + "word " * (MB // 5),
    "100k-blank-lines": "Headline" + "\n" * 100_000 + "Body.",
    "100k-crlf-blank-lines": "Headline" + "\r\n" * 100_000 + "Body.",
    "50k-source-lines": "Headline\n\nBody.\n\n" + "Source: Reuters\n" * 50_000,
    "50k-long-source-lines": "Headline\n\nBody.\n\n" + ("Source: " + "x" * 200 + "\n") * 5_000,
    "20k-related-lines": "Headline\n\nBody.\n\n" + "Also read: https://ex.com/a b\n" * 20_000,
    "1MB-url-line": "Headline\n\nBody.\n\nAlso read: https://" + "x" * MB,
    "1MB-www-runs": "Headline\n\nBody.\n\nAlso read: " + "www." * (MB // 4),
    "100k-colon-lines": "Headline\n\n" + "a:b\n" * 100_000,
    "100k-labels": "Headline\n\nBody.\n\n" + "Latest news\n" * 100_000,
    "1MB-nbsp": "Headline\n\n" + "\xa0" * MB,
    "1MB-zero-width": "Headline\n\n" + "\u200b" * MB,
    "1MB-combining-marks": "Headline\n\ne" + "\u0301" * MB,
    "1MB-one-paragraph-of-lines": "Headline\n\n" + "line\n" * (MB // 5),
}
PATHOLOGICAL_HTML = {
    "200k-nested-div": "<div>" * 200_000 + "<p>Deep body sentence here.</p>",
    "200k-nested-inline": "<p>" + "<b>" * 200_000 + "text",
    "200k-nested-li": "<ul>" + "<li>" * 200_000,
    "50k-nested-tables": "<table>" * 50_000 + "<td>text</td>",
    "1MB-single-line": "<p>" + "word " * (MB // 5) + "</p>",
    "1MB-no-spaces": "<p>" + "a" * MB + "</p>",
    "100k-blank-lines": "<p>Body text here.</p>" + "\n" * 100_000,
    "20k-source-paragraphs": "<article>" + "<p>Source: Reuters</p>" * 20_000 + "</article>",
    "20k-related-paragraphs": "<article>" + "<p>Also read: https://e.com/x</p>" * 20_000,
    "200k-attributes": "<div " + " ".join(f"a{i}=x" for i in range(200_000)) + ">x</div>",
    "200k-slash-attributes": "<div/" + "/".join(f"a{i}" for i in range(200_000)) + ">x",
    "100k-quoted-attributes": "<div " + "".join(f'a{i}="v"' for i in range(100_000)) + ">x",
    "500k-lt": "<a" * 500_000,
    "100k-comments": "<!--" * 100_000,
    "100k-cdata": "<![CDATA[" * 100_000,
    "100k-entities": "<p>" + "&amp;" * 100_000 + "</p>",
    "200k-json-ld-brackets": '<script type="application/ld+json">' + "[" * 200_000 + "</script>",
    "json-ld-1MB-headline": '<script type="application/ld+json">{"@type": "NewsArticle", '
    f'"headline": "{"h" * MB}"}}</script><article><p>Body text, long enough.</p></article>',
    "20k-meta": '<meta name="author" content="A B">' * 20_000 + "<p>Body text, long.</p>",
    "20k-links": "<p>Body text, quite long.</p>" + '<a href="http://e.com/x">t</a>' * 20_000,
    "20k-time": '<time datetime="2020-01-01">x</time>' * 20_000 + "<p>Body text, long.</p>",
    "1MB-nul": "\x00" * MB,
    "1MB-binary": bytes(range(256)) * (MB // 256),
}


@pytest.mark.parametrize("text", PATHOLOGICAL_SEEDS.values(), ids=PATHOLOGICAL_SEEDS)
def test_pathological_seed_text_is_quick(text: str) -> None:
    timed(LIMIT, parse_seed_text, text)
    timed(LIMIT, normalize.normalize_body, text)


@pytest.mark.parametrize("html", PATHOLOGICAL_HTML.values(), ids=PATHOLOGICAL_HTML)
def test_pathological_html_is_quick(html: str | bytes) -> None:
    # No URL: with no date in it either, htmldate searches the whole page, twice.
    timed(html_limit(html), extract_article, html)


@pytest.mark.parametrize(
    "text",
    [
        '"' * 99_999 + "a",
        "-" * 100_000 + "a",
        "a* " * 30_000,
        " ".join(["word"] * 100_000),
        "\u0301" * 100_000 + "a",
        "ﬁ" * 100_000,  # NFKC expands it
    ],
    ids=["quotes", "dashes", "prefixes", "100k-terms", "combining", "ligatures"],
)
def test_pathological_queries_are_quick(text: str) -> None:
    timed(LIMIT, parse_query, text)


@pytest.mark.parametrize(
    "url",
    [
        "https://" + "a." * 100_000 + "com/",
        "https://ex.com/" + "../" * 100_000,
        "https://ex.com/" + "/" * 200_000,
        "https://ex.com/?" + "&" * 200_000,
        "https://ex.com/?" + "utm_source=x&" * 50_000,
        "https://ex.com/" + "%41" * 100_000,
        "https://ex.com/" + "amp/" * 50_000,
        "https://ex.com/" + "x.amp" * 50_000,
        "https://" + "a.cdn.ampproject.org/c/s/" * 10_000,
        "https://[" + ":" * 100_000 + "]/",
        "https://ex.com/" + "é" * 200_000,
    ],
    ids=[
        "labels", "dot-dot", "slashes", "ampersands", "tracking", "escapes", "amp-segments",
        "amp-suffixes", "amp-cache-nesting", "ipv6", "unicode-path",
    ],
)  # fmt: skip
def test_pathological_urls_are_quick(url: str) -> None:
    timed(LIMIT, normalize_url, url)
    timed(LIMIT, url_domain, url)


# ---- coverage-guided fuzzing ----------------------------------------------------------------


def test_atheris_session_finds_nothing(tmp_path: Path) -> None:
    """A short libFuzzer session over every parser (fuzz/fuzz_parsers.py); longer ones by hand:
    python fuzz/fuzz_parsers.py -max_total_time=600 -dict=fuzz/parsers.dict CORPUS_DIR."""
    pytest.importorskip("atheris")
    fuzz = ROOT / "fuzz"
    # -timeout (per input) and the subprocess timeout bound hangs; a loaded machine is slow
    options = ["-max_total_time=20", "-timeout=30", "-max_len=8192", "-rss_limit_mb=2048"]
    command = [sys.executable, str(fuzz / "fuzz_parsers.py"), *options]
    command += [f"-dict={fuzz / 'parsers.dict'}", f"-artifact_prefix={tmp_path}/", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-5000:]
