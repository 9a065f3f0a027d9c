"""The search query language (its translation for each engine: `app.search.engines`).

    militias drones        both words (stemmed), anywhere in headline or body
    "supreme leader"       the phrase
    milit*                 words starting with "milit"
    -iran                  not containing "iran"

Terms are ANDed. Words are runs of letters and digits, as both engines' tokenizers see them;
everything else separates words, so no user text ever reaches either engine's syntax.
"""

import re
import unicodedata
from dataclasses import dataclass

from app.errors import InvalidInput
from app.text.normalize import stream_safe

MAX_TERMS = 32
# Words in all terms together (a phrase is one term): each costs a scan of every body on the
# page for its snippet, and the engines' phrase matching grows with it too.
MAX_WORDS = 64
_TOKEN = re.compile(r'(-?)"([^"]*)"|(-?)([^\s"]+)')
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # several words: a phrase
    prefix: bool = False
    negated: bool = False


def parse_query(text: str) -> list[Term]:
    """Terms of a query; InvalidInput (400) when it is malformed or matches nothing."""
    text = unicodedata.normalize("NFKC", stream_safe(text))
    if text.count('"') % 2:
        raise InvalidInput('search query has an unbalanced quote (")')
    terms = [t for t in map(_term, _TOKEN.finditer(text)) if t is not None]
    if not any(not t.negated for t in terms):
        raise InvalidInput("search query needs at least one word to look for")
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"search query has {len(terms)} terms; at most {MAX_TERMS}")
    if (words := sum(len(t.words) for t in terms)) > MAX_WORDS:
        raise InvalidInput(f"search query has {words} words; at most {MAX_WORDS}")
    return terms


def _term(match: re.Match[str]) -> Term | None:
    negated = bool(match[1] or match[3])
    raw = match[2] if match[2] is not None else match[4]
    words = tuple(w.casefold() for w in _WORD.findall(raw))
    if not words:
        return None
    prefix = match[4] is not None and raw.endswith("*") and len(words) == 1
    return Term(words, prefix, negated)
