"""Feed and sitemap parsers on real captures: fastfeedparser, feedparser and the service.

Usage: .venv/bin/python bench/feed_parsers.py [--data DIR] [--repeat N]

DIR holds `files/` and `manifest.json` (default: tests/data/feeds, the real-publisher corpus
described in its README). Reads files only: no parser is given anything it could fetch.
Rows for libraries that are not installed are skipped with a note: feedparser comes with
`pip install -e '.[bench]'`; ultimate-sitemap-parser is GPL-3.0 and pins python-dateutil<3,
so it is in no extra (`pip install ultimate-sitemap-parser` into a scratch venv to compare).

Feeds (RSS 0.9x/1.0/2.0, Atom, JSON Feed) and sitemaps are measured apart. Per parser:
- files ok: files whose entry count equals the manifest's (an exception counts as a miss);
- links / titles / dates / authors: entries carrying one, over the entries whose source has
  one (counted here with lxml or json on bytes decoded as the manifest's actual encoding;
  Atom and JSON Feed entries inherit the feed's authors, RFC 4287 4.2.1). A link counts when
  it is an absolute http(s) URL, a date when it is timezone-aware (or a UTC struct_time);
- mojibake: files with U+FFFD or UTF-8-read-as-Latin-1 sequences ("Ã©", "â€") in a title;
- speed: best of --repeat passes over all the files held in memory, parsers interleaved so
  that all see the same machine state; only the parse call is timed, in CPU time of the
  parsing thread (wall-clock time on these shared 2-core machines swings several-fold).
"""

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastfeedparser import main as fastfeedparser_main

# The service switches off two of fastfeedparser's date fallbacks when app.parsing.feeds is
# imported; the "raw" rows put them back for their own calls (see _library_defaults).
_DEFAULT_DATES = (fastfeedparser_main._slow_dateutil_parse, fastfeedparser_main._slow_dateparser)

from app.parsing.feeds import parse_feed  # noqa: E402 (after _DEFAULT_DATES is saved)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "tests/data/feeds"
FEED_KINDS = ("rss2", "rss1", "atom", "jsonfeed")
SITEMAP_KINDS = ("sitemap-news", "sitemap-urlset", "sitemap-index")
_MOJIBAKE = re.compile("\ufffd|Ã[\u0080-\u00bf]|â€")
_DATE_TAGS = frozenset({"pubDate", "date", "published", "updated", "issued", "modified"})
_ENCODINGS = {"ISO-8859-1": "latin-1", "ISO-8859-1 (undeclared)": "latin-1"}


@dataclass
class Row:
    link: str | None = None
    title: str | None = None
    dated: bool = False
    authors: bool = False


@dataclass
class Document:
    name: str
    kind: str
    data: bytes
    expected: int
    url: str
    encoding: str  # the manifest's actual encoding, as a codec name
    reference: list[Row] = field(default_factory=list)


def absolute(url: Any) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return None
    parts = urlsplit(url.strip())
    return url if parts.scheme in ("http", "https") and parts.hostname else None


# --- the parsers: each returns (parse call, rows from its result) -----------------------


def service(doc: Document) -> tuple[Callable[[], Any], Callable[[Any], list[Row]]]:
    def rows(result: Any) -> list[Row]:
        if result.kind == "sitemapindex":
            return [Row(link=s, dated=False) for s in result.sitemaps]
        return [
            Row(e.link, e.title, e.published_at is not None and e.published_at.tzinfo is UTC,
                bool(e.authors))
            for e in result.entries
        ]  # fmt: skip

    return (lambda: parse_feed(doc.data, doc.url)), rows


def fastfeedparser_raw(doc: Document) -> tuple[Callable[[], Any], Callable[[Any], list[Row]]]:
    import fastfeedparser

    def rows(result: Any) -> list[Row]:
        return [
            Row(absolute(e.get("link")), e.get("title") or None,
                _aware(e.get("published") or e.get("updated")), bool(e.get("author")))
            for e in result.entries
        ]  # fmt: skip

    return (lambda: _library_defaults(fastfeedparser.parse, doc.data)), rows


def _library_defaults(parse: Callable[[bytes], Any], data: bytes) -> Any:
    patched = (fastfeedparser_main._slow_dateutil_parse, fastfeedparser_main._slow_dateparser)
    main = fastfeedparser_main
    main._slow_dateutil_parse, main._slow_dateparser = _DEFAULT_DATES
    try:
        return parse(data)
    finally:
        main._slow_dateutil_parse, main._slow_dateparser = patched


def feedparser_raw(doc: Document) -> tuple[Callable[[], Any], Callable[[Any], list[Row]]]:
    import feedparser

    # Without a Content-Type, feedparser reads UTF-8 feeds that lack a declaration as Latin-1.
    headers = {"content-type": "application/xml", "content-location": doc.url}

    def rows(result: Any) -> list[Row]:
        return [
            Row(absolute(e.get("link")), e.get("title") or None,
                bool(e.get("published_parsed") or e.get("updated_parsed")), bool(e.get("author")))
            for e in result.entries
        ]  # fmt: skip

    return (lambda: feedparser.parse(doc.data, response_headers=headers)), rows


def usp_raw(doc: Document) -> tuple[Callable[[], Any], Callable[[Any], list[Row]]]:
    from usp.tree import sitemap_from_str  # parses the str it is given; fetches nothing

    text = doc.data.decode(doc.encoding)

    def rows(result: Any) -> list[Row]:
        if type(result).__name__ == "IndexXMLSitemap":
            return [Row(link=absolute(s.url)) for s in result.sub_sitemaps]
        return [
            Row(absolute(p.url), p.news_story.title if p.news_story else None,
                bool(p.last_modified or (p.news_story and p.news_story.publish_date)))
            for p in result.all_pages()
        ]  # fmt: skip

    return (lambda: sitemap_from_str(text)), rows


def _aware(value: Any) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except (TypeError, ValueError):
        return False


# --- the reference: what each source entry carries, read straight from the bytes -------


def reference(kind: str, text: str) -> list[Row]:
    if kind == "jsonfeed":
        feed = json.loads(text)
        inherited = bool(feed.get("author") or feed.get("authors"))
        return [
            Row(absolute(i.get("url") or i.get("external_url")), i.get("title") or None,
                bool(i.get("date_published") or i.get("date_modified")),
                bool(i.get("author") or i.get("authors")) or inherited)
            for i in feed.get("items", [])
        ]  # fmt: skip
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(text.lstrip().encode(), parser)
    if kind.startswith("sitemap"):
        return [_sitemap_row(c) for c in root if isinstance(c.tag, str)]
    if kind == "atom":
        items = [c for c in root if _local(c) == "entry"]
        inherited = any(_author_name(c) for c in root if _local(c) == "author")
    else:
        items = [e for e in root.iter() if isinstance(e.tag, str) and _local(e) == "item"]
        inherited = False
    return [_reference_row(item, inherited) for item in items]


def _reference_row(item: Any, inherited: bool) -> Row:
    children = [c for c in item if isinstance(c.tag, str)]
    link = None
    for child in children:
        name = _local(child)
        if name == "link" and (href := child.get("href") or child.text):
            link = link or href.strip()
        elif name == "guid" and child.get("isPermaLink", "true") == "true" and child.text:
            link = link or (child.text.strip() if absolute(child.text) else None)
    title = next((c.text for c in children if _local(c) == "title" and (c.text or len(c))), None)
    dated = any(_local(c) in _DATE_TAGS and (c.text or "").strip() for c in children)
    authors = inherited or any(
        _local(c) in ("author", "creator") and (_author_name(c) or "").strip() for c in children
    )
    return Row(link=link, title=title, dated=dated, authors=authors)


def _sitemap_row(element: Any) -> Row:
    found = {_local(e): (e.text or "").strip() for e in element.iter() if isinstance(e.tag, str)}
    link = found.get("loc") or (element.text or "").strip()  # an index entry without <loc>
    dated = bool(found.get("lastmod") or found.get("publication_date"))
    return Row(link=absolute(link), title=found.get("title") or None, dated=dated)


def _author_name(element: Any) -> str | None:
    name = next((c for c in element if isinstance(c.tag, str) and _local(c) == "name"), None)
    return (name.text if name is not None else element.text) or None


def _local(element: Any) -> str:
    return etree.QName(element).localname


# --- measuring --------------------------------------------------------------------------


def load(data_dir: Path) -> list[Document]:
    manifest = json.loads((data_dir / "manifest.json").read_text())
    docs = []
    for item in manifest:
        if item["kind"] not in FEED_KINDS + SITEMAP_KINDS:
            continue
        data = (data_dir / "files" / item["file"]).read_bytes()
        # Relative links need a base: the real one where the manifest names it, else a stand-in.
        url = "http://intertwingly.net/blog/index.atom" if "intertwingly" in item["file"] else (
            f"https://publisher.example/{item['file']}")  # fmt: skip
        encoding = _ENCODINGS.get(item["encoding_actual"], "utf-8-sig")
        doc = Document(item["file"], item["kind"], data, item["entries"], url, encoding)
        doc.reference = reference(item["kind"], data.decode(encoding))
        docs.append(doc)
    return docs


Candidate = Callable[[Document], tuple[Callable[[], Any], Callable[[Any], list[Row]]]]


def measure(candidates: dict[str, Candidate], docs: list[Document], repeat: int) -> list[dict]:
    """Score each installed candidate; passes interleaved, best pass timed."""
    calls = {}
    for name, candidate in candidates.items():
        try:
            calls[name] = [candidate(doc) for doc in docs]
        except ImportError:
            print(f"({name}: not installed, row skipped)")
    best = dict.fromkeys(calls, float("inf"))
    results: dict[str, list[Any]] = {}
    for _ in range(repeat):
        for name, pairs in calls.items():
            results[name], start = [], time.thread_time()
            for parse, _rows in pairs:
                try:
                    results[name].append(parse())
                except Exception as error:  # any failure is scored as a miss
                    results[name].append(error)
            best[name] = min(best[name], time.thread_time() - start)
    return [
        score(name, docs, list(zip(results[name], [rows for _p, rows in pairs], strict=True)),
              best[name])
        for name, pairs in calls.items()
    ]  # fmt: skip


def score(name: str, docs: list[Document], outputs: list, seconds: float) -> dict:
    figures = {"parser": name, "files ok": 0, "entries": 0, "errors": 0, "mojibake": 0}
    have = dict.fromkeys(("links", "titles", "dates", "authors"), 0)
    want = dict.fromkeys(have, 0)
    for doc, (result, rows_of) in zip(docs, outputs, strict=True):
        rows = [] if isinstance(result, Exception) else rows_of(result)
        figures["errors"] += isinstance(result, Exception)
        figures["files ok"] += len(rows) == doc.expected and not isinstance(result, Exception)
        figures["entries"] += len(rows)
        truth = doc.reference
        # Only mojibake the parser made: rss-com-blog's source itself has "FÃ³rmula".
        made = any(_MOJIBAKE.search(r.title or "") for r in rows)
        figures["mojibake"] += made and not any(_MOJIBAKE.search(t.title or "") for t in truth)
        for key, attr in (("links", "link"), ("titles", "title"), ("dates", "dated")):
            want[key] += sum(bool(getattr(t, attr)) for t in truth)
            have[key] += sum(bool(getattr(r, attr)) for r in rows[: len(truth)])
        want["authors"] += sum(t.authors for t in truth)
        have["authors"] += sum(r.authors for r in rows[: len(truth)])
    for key in have:
        figures[key] = f"{have[key]}/{want[key]}"
    figures["files ok"] = f"{figures['files ok']}/{len(docs)}"
    total = sum(len(d.data) for d in docs)
    figures["files/s"] = f"{len(docs) / seconds:,.0f}"
    figures["entries/s"] = f"{sum(d.expected for d in docs) / seconds:,.0f}"
    figures["MB/s"] = f"{total / seconds / 1e6:.1f}"
    return figures


def hostile_documents(token: int) -> dict[str, bytes]:
    """Made here: what a hostile or broken server could send, a few hundred KB each."""
    rss = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{}</channel></rss>'
    item = "<item><link>https://a.example/{}</link>{}</item>"
    words = "Mon, le 12 de mars 2020 vers 10:00 PM +0200 il y a yesterday ago " * 3
    junk = "".join(item.format(i, f"<pubDate>{i} {token} {words}</pubDate>") for i in range(500))
    depth = 30_000
    nested = item.format(0, f"<description>{'<a>' * depth}{'</a>' * depth}</description>")
    escaped = item.format(0, f"<description>{'&lt;b&gt;x&lt;/b&gt;' * depth}</description>")
    urls = "".join(
        f"<url><loc>https://a.example/section/{i}.html</loc><lastmod>2024-05-01</lastmod></url>"
        for i in range(50_000)
    )
    sitemap = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    return {
        "500 items, unreadable distinct dates": rss.format(junk).encode(),
        f"{depth:,} nested tags in a description": rss.format(nested).encode(),
        f"{depth:,} escaped tags in a description": rss.format(escaped).encode(),
        "sitemap, 50,000 URLs with lastmod": sitemap.encode(),
    }


def hostile(repeat_token: int) -> list[dict]:
    """One pass per parser per document (dates must be fresh: the libraries cache them)."""
    rows = []
    for name, data in hostile_documents(repeat_token).items():
        row = {"document": name, "KB": f"{len(data) / 1000:,.0f}"}
        parsers = {"service: parse_feed": lambda d: parse_feed(d, "https://a.example/f")}
        if "sitemap" in name:
            parsers["ultimate-sitemap-parser"] = lambda d: _usp(d.decode())
        else:
            parsers["fastfeedparser (raw)"] = lambda d: _library_defaults(_ffp, d)
            parsers["feedparser (raw)"] = lambda d: _feedparser(d)
        for parser, parse in parsers.items():
            fresh = hostile_documents(time.time_ns())[name]
            start = time.thread_time()
            try:
                parse(fresh)
                row[parser] = f"{time.thread_time() - start:.2f} s"
            except ImportError:
                row[parser] = "not installed"
            except Exception as error:
                row[parser] = f"{time.thread_time() - start:.2f} s ({type(error).__name__})"
        rows.append(row)
    return rows


def _ffp(data: bytes) -> Any:
    import fastfeedparser

    return fastfeedparser.parse(data)


def _feedparser(data: bytes) -> Any:
    import feedparser

    return feedparser.parse(data, response_headers={"content-type": "application/xml"})


def _usp(text: str) -> Any:
    from usp.tree import sitemap_from_str

    return sitemap_from_str(text)


def table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    docs = load(args.data)
    feeds = [d for d in docs if d.kind in FEED_KINDS]
    sitemaps = [d for d in docs if d.kind in SITEMAP_KINDS]
    feed_rows = measure(
        {
            "fastfeedparser 0.6 (raw)": fastfeedparser_raw,
            "feedparser 6.0 (raw)": feedparser_raw,
            "service: parse_feed": service,
        },
        feeds,
        args.repeat,
    )
    sitemap_rows = measure(
        {"ultimate-sitemap-parser (str in)": usp_raw, "service: parse_feed (lxml)": service},
        sitemaps,
        args.repeat,
    )
    size = sum(len(d.data) for d in feeds) / 1e6
    print(f"\nFeeds: {len(feeds)} files, {size:.1f} MB, "
          f"{sum(d.expected for d in feeds)} entries; best of {args.repeat}")  # fmt: skip
    print(table(feed_rows))
    print(f"\nSitemaps: {len(sitemaps)} files, {sum(d.expected for d in sitemaps)} URLs")
    print(table(sitemap_rows))
    print("\nGenerated documents, CPU seconds of one parse")
    rows = hostile(time.time_ns())
    columns = {key for row in rows for key in row}
    print(table([{c: row.get(c, "-") for c in sorted(columns, key=_column_order)} for row in rows]))


def _column_order(column: str) -> int:
    order = ["document", "KB", "service: parse_feed", "fastfeedparser (raw)"]
    return order.index(column) if column in order else len(order)


if __name__ == "__main__":
    main()
