"""Search-hit snippets: the passage of a body with the most query terms, matches marked.

Pure: text and query terms in, an HTML fragment out. Both databases find and rank the hits;
the snippet is cut here, from the body the service loads anyway. Asking the engine instead
(FTS5 `snippet()`, Postgres `ts_headline`) evaluates the whole query a second time or
re-parses every body, which cost as much as the search itself.

A word matches a query word when their Snowball stems are equal (the stemmers the engines
use: Porter for FTS5, the language's Snowball stemmer for Postgres), or, for a `prefix*`
term, when it starts with the prefix. Text outside the marks is HTML-escaped.
"""

import html
import re
from collections.abc import Callable
from functools import lru_cache

import snowballstemmer

from app.parsing.query import Term

MARK = ("<mark>", "</mark>")
ELLIPSIS = "…"
_WORD = re.compile(r"[^\W_]+")  # as app.parsing.query splits query words


@lru_cache(maxsize=64)
def stemmer(algorithm: str | None) -> Callable[[str], str]:
    """A word's stem by a Snowball algorithm ("porter", "english", "german", …); None, or an
    algorithm Snowball lacks, leaves words as they are (Postgres' "simple")."""
    if algorithm is None or algorithm not in snowballstemmer.algorithms():
        return str.casefold
    stem = snowballstemmer.stemmer(algorithm).stemWord
    return lru_cache(maxsize=4096)(lambda word: stem(word.casefold()))


def snippet(text: str, terms: list[Term], stem: Callable[[str], str], words: int = 24) -> str:
    """The `words`-word passage of `text` with the most distinct query terms (then the most
    matches, then the earliest), matches in <mark></mark>, "…" where text was cut."""
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    if not tokens:
        return ""
    matcher = _matcher(terms, stem)
    hits = [matcher(word) for _, _, word in tokens]
    first = _best_window(hits, words)
    window = tokens[first : first + words]
    parts = [ELLIPSIS] if first > 0 else []
    position = window[0][0]
    for (start, end, word), hit in zip(window, hits[first : first + words], strict=True):
        parts.append(html.escape(text[position:start]))
        parts.append(
            f"{MARK[0]}{html.escape(word)}{MARK[1]}" if hit is not None else html.escape(word)
        )
        position = end
    following = tokens[first + words][0] if first + words < len(tokens) else len(text)
    parts.append(html.escape(text[position:following][:8].rstrip()))  # "." after the last word
    if first + words < len(tokens):
        parts.append(ELLIPSIS)
    return "".join(parts).strip()


def _matcher(terms: list[Term], stem: Callable[[str], str]) -> Callable[[str], int | None]:
    """word -> the index of the query word it matches, or None."""
    exact: dict[str, int] = {}
    prefixes: list[tuple[str, int]] = []
    for term in terms:
        if term.negated:
            continue
        for word in term.words:
            index = len(exact) + len(prefixes)
            if term.prefix:
                prefixes.append((word.casefold(), index))
            else:
                exact.setdefault(stem(word), index)
    heads = {key[:2] for key in exact}

    def match(word: str) -> int | None:
        folded = word.casefold()
        # Stemming is the slow part: only words that could share a stem are stemmed.
        if folded[:2] in heads and (index := exact.get(stem(folded))) is not None:
            return index
        return next((i for prefix, i in prefixes if folded.startswith(prefix)), None)

    return match


def _best_window(hits: list[int | None], size: int) -> int:
    """Start of the `size`-token window with the most distinct, then the most, matches,
    among windows that begin at a match; moved back a few words for context."""
    counts: dict[int, int] = {}
    for hit in hits[:size]:
        if hit is not None:
            counts[hit] = counts.get(hit, 0) + 1
    best, best_score = 0, (-1, -1)
    for start, hit in enumerate(hits):
        if start:  # slide: drop hits[start - 1], take in hits[start + size - 1]
            if (gone := hits[start - 1]) is not None:
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
            if start + size - 1 < len(hits) and (new := hits[start + size - 1]) is not None:
                counts[new] = counts.get(new, 0) + 1
        if hit is not None:
            score = (len(counts), sum(counts.values()))
            if score > best_score:
                best, best_score = start, score
    return max(0, min(best - size // 6, len(hits) - size))
