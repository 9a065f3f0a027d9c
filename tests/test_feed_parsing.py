"""Feed, sitemap and discovery parsers on real captures (tests/data/feeds) and hostile input.

Golden facts come from the corpus manifest (entry counts, kinds, encodings) and from the
files themselves (values quoted in each test)."""

import contextlib
import gzip
import hashlib
import json
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import dateparser
import pytest
from dateutil import parser as dateutil_parser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import PayloadTooLarge, Unprocessable
from app.parsing.discovery import FeedLink, feed_links, robots_sitemaps, sniff
from app.parsing.feed_document import MAX_DOCUMENT_BYTES
from app.parsing.feeds import MAX_ENTRIES, parse_feed
from tests.conftest import ROOT

DATA = ROOT / "tests/data/feeds"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
DOCUMENTS = [m for m in MANIFEST if m["kind"] != "robots"]
ROBOTS = [m for m in MANIFEST if m["kind"] == "robots"]
KINDS = {"rss2": "rss", "rss1": "rss", "atom": "atom", "jsonfeed": "jsonfeed"}
KINDS |= {"sitemap-news": "news-sitemap", "sitemap-urlset": "sitemap"}
KINDS |= {"sitemap-index": "sitemapindex"}
# The one item without a link: <title></title><link></link> in the source (lines 29-34).
LINKLESS = {"rss2-le-cercle-psy-undeclared-latin1.xml": 1}
BASE = "https://publisher.example/feeds/feed.xml"
# A hang guard, not a speed target: CPU seconds for a 10 MB hostile document, whose linear
# cost here is 1-3 s; the blow-ups it guards against take minutes.
HANG_LIMIT = 60.0


def read(name: str) -> bytes:
    return (DATA / "files" / name).read_bytes()


def rss(items: str) -> bytes:
    channel = f"<channel><title>T</title>{items}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'.encode()


def cpu_bounded(function, *args, **kwargs):
    start = time.thread_time()
    try:
        return function(*args, **kwargs)
    finally:
        assert time.thread_time() - start < HANG_LIMIT


# --- every corpus file ----------------------------------------------------------------


def test_corpus_files_are_the_captured_bytes() -> None:
    """The quirks (BOM, CRLF, undeclared Latin-1) are what is tested: no byte may change."""
    changed = [
        m["file"] for m in MANIFEST if hashlib.sha256(read(m["file"])).hexdigest() != m["sha256"]
    ]
    assert changed == []


@pytest.mark.parametrize("item", DOCUMENTS, ids=lambda m: m["file"])
def test_corpus_file_parses_to_the_manifest_count(item: dict) -> None:
    result = parse_feed(read(item["file"]), BASE)
    assert result.kind == KINDS[item["kind"]]
    found = result.sitemaps if result.kind == "sitemapindex" else result.entries
    assert len(found) == item["entries"]
    assert not result.truncated


@pytest.mark.parametrize("item", DOCUMENTS, ids=lambda m: m["file"])
def test_corpus_links_are_absolute_and_dates_utc(item: dict) -> None:
    result = parse_feed(read(item["file"]), BASE)
    links = [e.link for e in result.entries] + list(result.sitemaps)
    assert links.count(None) == LINKLESS.get(item["file"], 0)
    assert all(link.startswith(("http://", "https://")) for link in links if link)
    for entry in result.entries:
        for date in (entry.published_at, entry.updated_at):
            assert date is None or date.utcoffset() == timedelta(0)


@pytest.mark.parametrize("item", DOCUMENTS, ids=lambda m: m["file"])
def test_corpus_text_is_decoded_and_plain(item: dict) -> None:
    result = parse_feed(read(item["file"]), BASE)
    titles = [e.title or "" for e in result.entries] + [result.title or ""]
    assert not any("\ufffd" in t for t in titles)  # no undecodable byte in any encoding
    assert not any("<b>" in t or "&amp;" in t for t in titles)


@pytest.mark.parametrize("item", DOCUMENTS, ids=lambda m: m["file"])
def test_sniff_tells_feeds_from_sitemaps(item: dict) -> None:
    expected = "sitemap" if item["kind"].startswith("sitemap") else "feed"
    assert sniff(read(item["file"])) == expected


@pytest.mark.parametrize("item", ROBOTS, ids=lambda m: m["file"])
def test_robots_sitemap_lines(item: dict) -> None:
    text = read(item["file"]).decode()
    sitemaps = robots_sitemaps(text, "https://www.example.com/robots.txt")
    assert len(sitemaps) == item["entries"]
    assert all(s.startswith(("http://", "https://")) for s in sitemaps)


# --- what the quirks of particular files need -----------------------------------------


def test_undeclared_latin1_is_read_as_latin1() -> None:
    uol = parse_feed(read("rss2-uol-noticias-undeclared-latin1-2018.xml"), BASE)
    assert uol.entries[0].title == (
        "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de 2º turno"
    )
    psy = parse_feed(read("rss2-le-cercle-psy-undeclared-latin1.xml"), BASE)
    assert "très complexe" in (psy.entries[1].title or "")


def test_relative_links_resolve_against_the_feed_url() -> None:
    feed = parse_feed(
        read("atom-intertwingly-samruby-2013.xml"), "http://intertwingly.net/blog/index.atom"
    )
    assert feed.entries[0].link == "http://intertwingly.net/blog/2013/01/30/Plex"
    assert feed.link == "http://intertwingly.net/blog/"


def test_rss_090_items_are_read() -> None:
    feed = parse_feed(read("rss090-heise-online-rdf-2018.xml"), BASE)
    assert feed.title == "heise online News"
    assert feed.entries[0].title == "OLED-TVs: Vorsichtsmaßnahmen gegen Einbrennen"
    # every item links to heise.de or to its sister site techstage.de
    hosts = {(e.link or "").split("/")[2] for e in feed.entries}
    assert hosts == {"www.heise.de", "www.techstage.de"}


def test_dates_with_zone_names_become_utc() -> None:
    # <pubDate>Tue, 01 Oct 2019 14:30:00 PST</pubDate>; <pubDate>2006-01-11 16:43:22 -0800
    podcast = parse_feed(read("rss2-giantbomb-podcast-2019-large.xml"), BASE)
    assert podcast.entries[0].published_at == datetime(2019, 10, 1, 22, 30, tzinfo=UTC)
    photos = parse_feed(read("rss2-iphoto-photocast-2006.xml"), BASE)
    assert photos.entries[0].published_at == datetime(2006, 1, 12, 0, 42, 55, tzinfo=UTC)


def test_markup_and_double_escaping_leave_titles() -> None:
    alerts = parse_feed(read("atom-google-alerts-2019.xml"), BASE)  # <b>Slack</b> in titles
    assert alerts.entries[0].title is not None
    assert alerts.entries[0].title.startswith("Report offers Prediction of Automotive Slack")
    kcrw = parse_feed(read("rss2-kcrw-left-right-center-2006.xml"), BASE)  # &amp;amp;
    assert kcrw.title == "KCRW's Left, Right & Center"
    rose = parse_feed(read("jsonfeed-rosemary-orchard-2018.json"), BASE)
    assert rose.entries[0].title == "Workflow: Add Task & Sub Tasks To OmniFocus"


def test_authors_names_and_atom_inheritance() -> None:
    giornale = parse_feed(read("rss2-il-giornale-cronache-2022.xml"), BASE)
    assert giornale.entries[0].authors == ("Angela Leucci",)  # "mail@... (Angela Leucci)"
    rsc = parse_feed(read("atom-russ-cox-research-2019.xml"), BASE)  # only a feed <author>
    assert {e.authors for e in rsc.entries} == {("Russ Cox",)}


@pytest.mark.parametrize(
    ("name", "minutes"),
    [
        ("rss2-bbc-urdu-2018.xml", 15),  # <ttl>15</ttl>
        ("rss1-slashdot-2005.xml", 60),  # syn:updatePeriod hourly, updateFrequency 1
        ("rss2-rss-com-blog-2023.xml", 60),  # the same, padded with newlines and tabs
        ("rss2-hacker-news-2022.xml", None),
    ],
)
def test_ttl(name: str, minutes: int | None) -> None:
    assert parse_feed(read(name), BASE).ttl_minutes == minutes


def test_news_sitemap_fields() -> None:
    news = parse_feed(read("sitemap-news-shinpaideshou-2017.xml"), BASE)
    first = news.entries[0]
    assert first.title == "Job Opening: Reischauer Policy Research Fellow"
    assert first.publication == "What can I do with a B.A. in Japanese Studies?"
    assert first.published_at == datetime(2017, 4, 25, 10, 0, 36, tzinfo=UTC)


def test_sitemap_index_without_loc_and_plain_urlset() -> None:
    index = parse_feed(read("sitemap-index-loc-less-portalcode.xml"), BASE)
    assert index.sitemaps[0] == "https://example.com/sitemap.jss?portalCode=10260&lang=en"
    urlset = parse_feed(read("sitemap-urlset-sitemaps-org-2016.xml"), BASE)
    assert urlset.entries[0].link == "https://www.sitemaps.org/"
    assert urlset.entries[0].updated_at == datetime(2016, 11, 21, tzinfo=UTC)  # date only


def test_truncated_feed_keeps_its_channel() -> None:
    reuters = parse_feed(read("rss2-reuters-most-read-truncated-2020.xml"), BASE)
    assert reuters.title == "Reuters: Most Read Articles"
    assert reuters.entries == ()


# --- hostile input ---------------------------------------------------------------------

LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
BILLION_LAUGHS = (
    f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">{LAUGHS}]>'
    '<rss version="2.0"><channel><item><title>&l9;</title><link>https://a.example/x</link>'
    "</item></channel></rss>"
).encode()
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<rss version="2.0"><channel><item><title>&x;</title></item></channel></rss>'
)


@pytest.mark.parametrize("document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "xxe"])
def test_entity_declarations_are_refused(document: bytes) -> None:
    with pytest.raises(Unprocessable, match="DOCTYPE declares entities"):
        cpu_bounded(parse_feed, document, BASE)


def test_entity_declarations_behind_a_long_prolog_are_refused() -> None:
    padded = BILLION_LAUGHS.replace(b"?>", b"?>" + b"<!-- pad -->\n" * 100_000, 1)
    with pytest.raises(Unprocessable, match="DOCTYPE declares entities"):
        cpu_bounded(parse_feed, padded, BASE)


def test_a_public_doctype_without_entities_parses_without_network(monkeypatch) -> None:
    dialed = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: dialed.append(a))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: dialed.append(a) or [])
    doctype = b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
    doctype += b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    document = rss("<item><title>Caf&#233;</title><link>/a</link></item>").replace(
        b"?>", b"?>" + doctype, 1
    )
    assert parse_feed(document, BASE).entries[0].title == "Café"
    assert dialed == []  # the DTD named by the DOCTYPE was not fetched


def test_a_url_is_never_fetched(monkeypatch) -> None:
    dialed = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: dialed.append(a))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: dialed.append(a) or [])
    with pytest.raises(Unprocessable):
        parse_feed(b"http://127.0.0.1:9/feed.xml", BASE)
    with pytest.raises(TypeError):
        parse_feed("http://127.0.0.1:9/feed.xml", BASE)  # type: ignore[arg-type]
    assert dialed == []


def test_size_cap() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_feed(b" " * (50 * 1024 * 1024), BASE)  # refused before any parsing
    assert MAX_DOCUMENT_BYTES < 50 * 1024 * 1024
    document = rss("<item><link>https://a.example/1</link></item>")
    assert len(parse_feed(document, BASE, max_bytes=len(document)).entries) == 1
    with pytest.raises(PayloadTooLarge):
        parse_feed(document, BASE, max_bytes=len(document) - 1)


def test_gzipped_sitemaps_are_read_and_bombs_refused() -> None:
    sitemap = read("sitemap-urlset-sitemaps-org-2016.xml")
    assert len(parse_feed(gzip.compress(sitemap), BASE).entries) == 84  # as sitemap.xml.gz
    bomb = gzip.compress(b"<urlset>" + b" " * (MAX_DOCUMENT_BYTES + 1))
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge):
        cpu_bounded(parse_feed, bomb, BASE)
    with pytest.raises(Unprocessable, match="gzip"):
        parse_feed(b"\x1f\x8b" + b"not gzip", BASE)


def test_entry_caps() -> None:
    items = "".join(f"<item><link>https://a.example/{i}</link></item>" for i in range(30))
    feed = parse_feed(rss(items), BASE, max_entries=10)
    assert len(feed.entries) == 10
    assert feed.truncated
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    urls = "".join(f"<url><loc>https://a.example/{i}</loc></url>" for i in range(MAX_ENTRIES + 1))
    sitemap = parse_feed(f"<urlset {ns}>{urls}</urlset>".encode(), BASE)
    assert len(sitemap.entries) == MAX_ENTRIES
    assert sitemap.truncated
    children = "".join(f"<sitemap><loc>/s{i}.xml</loc></sitemap>" for i in range(30))
    index = parse_feed(
        f"<sitemapindex {ns}>{children}</sitemapindex>".encode(), BASE, max_entries=5
    )
    assert index.sitemaps[0] == "https://publisher.example/s0.xml"
    assert len(index.sitemaps) == 5
    assert index.truncated


def test_deep_nesting_is_linear_and_harmless() -> None:
    depth = 1_400_000  # 10 MB, the size cap
    description = f"<description>{'<a>' * depth}{'</a>' * depth}</description>"
    nested = rss(f"<item><link>https://a.example/x</link>{description}</item>")
    assert len(cpu_bounded(parse_feed, nested, BASE).entries) == 1
    sitemap = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{"<x>" * depth}'
    with contextlib.suppress(Unprocessable):
        cpu_bounded(parse_feed, sitemap.encode(), BASE)
    json_nested = b'{"version":"https://jsonfeed.org/version/1.1","items":' + b"[" * 100_000
    with pytest.raises(Unprocessable):
        cpu_bounded(parse_feed, json_nested + b"]" * 100_000 + b"}", BASE)


def test_unreadable_dates_cost_no_fallback_parser(monkeypatch) -> None:
    """fastfeedparser's dateutil and dateparser fallbacks (0.5 and 9 ms a string) stay off."""
    calls = []
    monkeypatch.setattr(dateparser, "parse", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(dateutil_parser, "parse", lambda *a, **k: calls.append(a))
    token = time.time_ns()  # fresh strings: fastfeedparser caches dates it has seen
    item = "<item><link>https://a.example/{0}</link><pubDate>le {0} mars {1} midi</pubDate></item>"
    items = "".join(item.format(i, token) for i in range(200))
    feed = parse_feed(rss(items), BASE)
    assert len(feed.entries) == 200
    assert feed.entries[0].published_at is None
    assert calls == []


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"", "not a readable feed"),
        (b"<!doctype html><html><body><p>Hello</p></body></html>", "HTML page"),
        (b'{"id": 1, "title": {"rendered": "a WordPress REST answer"}}', "not a readable feed"),
        (b"\x00\xff\xfe garbage \x01", "not a readable feed"),
    ],
)
def test_what_is_not_a_feed_is_unprocessable(document: bytes, reason: str) -> None:
    with pytest.raises(Unprocessable, match=reason):
        parse_feed(document, BASE)


DAMAGEABLE = [
    "rss2-nyt-wirecutter-2022.xml",
    "atom-usgs-earthquakes-2018.xml",
    "jsonfeed-npr-technology-2021.json",
    "sitemap-news-shinpaideshou-2017.xml",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(DAMAGEABLE), st.integers(0, 8000), st.binary(max_size=64), st.integers(0, 64)
)
def test_damaged_documents_parse_or_are_refused(name: str, at: int, junk: bytes, cut: int) -> None:
    source = read(name)
    damaged = source[:at] + junk + source[at + cut :]
    try:
        result = cpu_bounded(parse_feed, damaged, BASE)
    except Unprocessable:
        return
    links = [e.link for e in result.entries] + list(result.sitemaps)
    assert all(link is None or link.startswith(("http://", "https://")) for link in links)


def test_parsers_import_no_database_web_or_http_client() -> None:
    code = (
        "import sys, app.parsing.feeds, app.parsing.discovery; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'httpx', 'fastapi'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# --- discovery -------------------------------------------------------------------------

PAGE = b"""<!doctype html><html><head><base href="https://cdn.example.org/news/">
<link rel="alternate" type="application/rss+xml" title="All &amp; more" href="rss.xml">
<link rel="Alternate feed" type="Application/Atom+XML; charset=utf-8" href="/atom">
<link rel="alternate" type="application/feed+json" href="https://site.example/feed.json">
<link rel="alternate" type="application/json" href="https://site.example/wp-json/wp/v2/posts/1">
<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">
<link rel="stylesheet" type="application/rss+xml" href="/not-a-feed">
<link rel="alternate" type="application/rss+xml" href="rss.xml">
</head><body><p>Text</p></body></html>"""


def test_feed_links_declared_by_a_page() -> None:
    assert feed_links(PAGE, "https://site.example/section/page") == [
        FeedLink("https://cdn.example.org/news/rss.xml", "rss", "All & more"),
        FeedLink("https://cdn.example.org/atom", "atom"),
        FeedLink("https://site.example/feed.json", "jsonfeed"),
    ]


def test_feed_links_resolve_against_the_page_without_base() -> None:
    link = b'<link rel="alternate" type="application/atom+xml" href="../feed">'
    page = b"<html><head>" + link + b"</head></html>"
    assert feed_links(page, "https://site.example/a/b/page") == [
        FeedLink("https://site.example/a/feed", "atom")
    ]
    assert feed_links(b"<html><head><title>x</title></head></html>", "https://site.example/") == []
    assert feed_links(b"", "https://site.example/") == []


def test_robots_sitemaps_keep_the_value_as_written() -> None:
    text = "\ufeffSITEMAP: /news.xml\r\nUser-agent: *\r\nDisallow: /x\r\n"
    text += "  sitemap:https://a.example/s?q=a%26b\r\nSitemap: /news.xml\r\nSitemap: ftp://x/y\r\n"
    assert robots_sitemaps(text, "https://a.example/robots.txt") == [
        "https://a.example/news.xml",
        "https://a.example/s?q=a%26b",
    ]


@pytest.mark.parametrize(
    ("data", "content_type", "kind"),
    [
        (b"<!DOCTYPE html>\n<html lang=en><p>x", None, "html"),
        (b"<p>a fragment</p>", "text/html; charset=utf-8", "html"),
        (b'{"version": "https:\\/\\/jsonfeed.org\\/version\\/1", "items": []}', None, "feed"),
        (b'{"version": 1}', "application/json", None),
        (b"\xef\xbb\xbf<?xml version='1.0'?><!-- c --><rss version='2.0'/>", None, "feed"),
        (b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'/>", "text/html", "feed"),
        (b"<?xml version='1.0'?><sitemapindex/>", None, "sitemap"),
        (b"truncated", "application/rss+xml", "feed"),
        (b"plain words", "text/plain", None),
    ],
)
def test_sniff(data: bytes, content_type: str | None, kind: str | None) -> None:
    assert sniff(data, content_type) == kind
