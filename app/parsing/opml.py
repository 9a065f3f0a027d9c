"""OPML subscription lists, in and out. Pure: bytes in, outlines out; outlines in, bytes out.

Reading: every <outline> with an xmlUrl, at any depth (folders are outlines that hold
others), in document order, duplicates dropped. The document goes through the same guards
as feeds (size cap, charset, no DOCTYPE internal subset) and lxml never expands entities or
touches the network.
"""

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from app.errors import Unprocessable
from app.parsing import feed_document
from app.parsing.feed_document import MAX_DOCUMENT_BYTES

MAX_OUTLINES = 10_000


@dataclass(frozen=True, slots=True)
class Outline:
    url: str  # xmlUrl
    title: str | None = None
    site_url: str | None = None  # htmlUrl
    kind: str | None = None  # the outline's type attribute (rss, atom, ...)


def parse_opml(data: bytes, max_bytes: int = MAX_DOCUMENT_BYTES) -> list[Outline]:
    """The feeds an OPML document lists; Unprocessable if it is not OPML."""
    feed_document.check_size(data, max_bytes)
    text = feed_document.decode(data)
    feed_document.refuse_internal_subset(text)
    if feed_document.root_element(text) != "opml":
        raise Unprocessable("not an OPML document: its root element is not <opml>")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
    root = etree.fromstring(text.encode("utf-8"), parser)
    if root is None:
        raise Unprocessable("not a readable OPML document")
    found: dict[str, Outline] = {}
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        if url and url not in found:
            title = outline.get("title") or outline.get("text")
            found[url] = Outline(url, title, outline.get("htmlUrl"), outline.get("type"))
            if len(found) > MAX_OUTLINES:
                raise Unprocessable(f"more than {MAX_OUTLINES} feeds in one OPML document")
    return list(found.values())


def render_opml(outlines: list[Outline], title: str, created: datetime) -> bytes:
    """An OPML 2.0 document listing the outlines."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = created.strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = etree.SubElement(root, "body")
    for item in outlines:
        attributes = {"type": item.kind or "rss", "text": item.title or item.url}
        if item.title:
            attributes["title"] = item.title
        attributes["xmlUrl"] = item.url
        if item.site_url:
            attributes["htmlUrl"] = item.site_url
        etree.SubElement(body, "outline", attributes)
    document: bytes = etree.tostring(
        root, xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
    return document
