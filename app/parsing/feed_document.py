"""A fetched feed or sitemap document as text: size cap, charset, DTD check, root element.

Shared by `feeds`, `sitemaps` and `discovery`. Pure: bytes and a Content-Type in, text out.
"""

import codecs
import re
import zlib
from typing import Literal

from app.errors import PayloadTooLarge, Unprocessable

# The sitemap protocol allows 50 MB uncompressed, yet the fetcher stops at 5 MiB (FetchLimits);
# 10 MiB leaves room for a caller with a larger fetch limit and keeps a parse under a second.
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024

DocumentKind = Literal["feed", "sitemap", "html"]
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED = re.compile(rb"""\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
# What may stand before the root element: white space, the XML declaration, processing
# instructions (xml-stylesheet) and comments. Each alternative is linear in what it consumes.
_PROLOG = re.compile(r"(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)
_ELEMENT = re.compile(r"<([A-Za-z_][\w.:-]*)")
# JSON Feed's required "version" URL, with the "\\/" escaping some publishers use.
_JSON_FEED = re.compile(r"jsonfeed\.org\\?/version")
_FEED_ROOTS = frozenset({"rss", "rdf", "feed", "channel"})  # "channel": bare RSS 0.9x exports
_SITEMAP_ROOTS = frozenset({"urlset", "sitemapindex"})


def check_size(data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> None:
    """Refuse a document over the size cap before any parsing cost is paid."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"document of {len(data)} bytes exceeds the {max_bytes} limit")


def ungzip(data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """A gzip file's content (sitemap.xml.gz, often served without Content-Encoding), capped.

    Other bytes come back as they are. The output is bounded while decompressing, so a
    small gzip bomb cannot expand past `max_bytes`.
    """
    if not data.startswith(b"\x1f\x8b"):
        return data
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        content = inflater.decompress(data, max_bytes + 1)
    except zlib.error as error:
        raise Unprocessable(f"not a readable gzip file: {error}") from error
    check_size(content, max_bytes)
    return content


def decode(data: bytes, content_type: str | None = None) -> str:
    """The document's text: byte-order mark, else XML declaration, else HTTP charset, else UTF-8.

    The declaration beats the header because the software that wrote the bytes wrote it,
    while the header is often a server-wide default. Bytes that are invalid in the chosen
    encoding (Latin-1 served without a declaration is common) are read as windows-1252, as
    browsers do, rather than turned into replacement characters. Hand-written because
    feed libraries given bytes either guess (fastfeedparser: U+FFFD) or defer to the header.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    declared = _DECLARED.match(data)
    charset = _CHARSET.search(content_type or "")
    names = (declared[1].decode() if declared else None, charset[1] if charset else None)
    for name in (*names, "utf-8"):
        if not name:
            continue
        try:
            return data.decode(name)
        except (LookupError, UnicodeDecodeError):  # unknown name, or not that encoding
            continue
    return data.decode("windows-1252", errors="replace")


def root_element(text: str) -> str | None:
    """The local name, lower-cased, of the first element after the prolog; None if none."""
    position = _prolog_end(text)
    if text.startswith("<!DOCTYPE", position) or text.startswith("<!doctype", position):
        close = text.find(">", position)
        if close == -1:
            return None
        position = _prolog_end(text, close + 1)
    match = _ELEMENT.match(text, position)
    return match[1].rpartition(":")[2].lower() if match else None


def refuse_internal_subset(text: str) -> None:
    """Refuse a DOCTYPE with an internal subset: where entities are declared.

    No feed or sitemap needs one, and declared entities are how billion-laughs documents
    expand and how external entities reach files. The XML parsers are configured not to
    expand entities either; this makes the refusal explicit and costs one scan of the prolog.
    """
    position = _prolog_end(text)
    if not text.startswith(("<!DOCTYPE", "<!doctype"), position):
        return
    bracket = text.find("[", position)
    close = text.find(">", position)
    if bracket != -1 and (close == -1 or bracket < close):
        raise Unprocessable("document refused: its DOCTYPE declares entities (internal subset)")


def kind_of(text: str) -> DocumentKind | None:
    """feed, sitemap or html, judged by the root element (JSON Feed: a version URL); else None."""
    if text.lstrip()[:1] in ("{", "["):
        return "feed" if _JSON_FEED.search(text, 0, 4096) else None
    root = root_element(text)
    if root in _FEED_ROOTS:
        return "feed"
    if root in _SITEMAP_ROOTS:
        return "sitemap"
    if root == "html" or text.lstrip()[:9].lower() == "<!doctype":
        return "html"
    return None


def _prolog_end(text: str, start: int = 0) -> int:
    match = _PROLOG.match(text, start)
    return match.end() if match else start
