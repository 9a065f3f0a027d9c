"""The last resort for a page on which trafilatura finds no body: its visible text blocks.

A broken page (an unclosed `<aside>` or `<footer>` that swallows what follows, misnested
tags) can hold a real article that the main extractor discards as page furniture. Best
effort: every block of visible text that is not only link text (the caller drops navigation
labels, "Home" or "Latest news"). A page with no such block still has no body.
"""

from lxml import etree
from lxml.html import HtmlElement

from app.parsing.html.page import BLOCK_TAGS, INVISIBLE_TAGS
from app.text.normalize import clean_line

# Never shown as text on the page (form controls show their own values, not their content).
_HIDDEN = INVISIBLE_TAGS | {"head", "title", "select", "textarea", "button", "iframe", "svg"}
# Blocks for this purpose, beside the usual ones.
_BREAKS = BLOCK_TAGS | {"pre", "center", "form", "fieldset", "details", "summary"}


class _Blocks:
    """Text gathered block by block, remembering whether any of it was outside a link."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self._parts: list[str] = []
        self._own = False

    def add(self, text: str, in_link: bool) -> None:
        self._parts.append(text)
        self._own = self._own or (not in_link and not text.isspace())

    def end(self) -> None:
        text = clean_line("".join(self._parts))
        if text and self._own:
            self.found.append(text)
        self._parts, self._own = [], False


def visible_blocks(tree: HtmlElement) -> list[str]:
    """The page body's visible text blocks, in order (one linear walk, no recursion)."""
    root = next(tree.iter("body"), tree)
    blocks = _Blocks()
    hidden = links = 0
    for event, node in etree.iterwalk(root, events=("start", "end")):
        tag = node.tag if isinstance(node.tag, str) else None  # comments have no str tag
        invisible = tag is None or tag in _HIDDEN
        if tag in _BREAKS:
            blocks.end()
        if event == "start":
            hidden += invisible
            links += tag == "a"
            if not hidden and node.text:
                blocks.add(node.text, links > 0)
            continue
        hidden -= invisible
        links -= tag == "a"
        if not hidden and node is not root and node.tail:
            blocks.add(node.tail, links > 0)
    blocks.end()
    return blocks.found
