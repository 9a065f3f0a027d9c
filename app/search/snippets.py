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
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

import snowballstemmer

from app.search.query import Term

MARK = ("<mark>", "</mark>")
ELLIPSIS = "…"
_WORD = re.compile(r"[^\W_]+")  # as app.search.query splits query words


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
    hits = _hits(text, terms, stem)
    tokens = list(_WORD.finditer(text, *_span(text, hits, words)))
    first = _first_token(tokens, hits, words)
    window = tokens[first : first + words]
    if not window:
        return ""
    parts = [ELLIPSIS] if window[0].start() > 0 else []
    position, stop = window[0].start(), window[-1].end()
    for start, end, _ in hits:
        if position <= start < stop:
            word = html.escape(text[start:end])
            parts += [html.escape(text[position:start]), MARK[0], word, MARK[1]]
            position = end
    parts.append(html.escape(text[position:stop]))
    position = stop
    following = _WORD.search(text, position)
    end = following.start() if following else len(text)
    parts.append(html.escape(text[position:end][:8].rstrip()))  # the "." after the last word
    if following:
        parts.append(ELLIPSIS)
    return "".join(parts).strip()


def _hits(text: str, terms: list[Term], stem: Callable[[str], str]) -> list[tuple[int, int, int]]:
    """(start, end, query word index) of every matching word, in order. Candidates (words
    that start like a query word's stem) are found by substring search; only those are
    stemmed, so a 3 KB body costs a scan per query word, not a stem per word."""
    exact: dict[str, int] = {}
    prefixes: dict[str, int] = {}
    for term in terms:
        for word in () if term.negated else term.words:
            table = prefixes if term.prefix else exact
            table.setdefault(
                word.casefold() if term.prefix else stem(word), len(exact) + len(prefixes)
            )
    found = []
    for start in _candidates(text, {*exact, *prefixes}):
        match = _WORD.match(text, start)
        assert match is not None  # a candidate starts a word
        folded = match.group().casefold()
        index = exact.get(stem(folded))
        if index is None:
            index = next((i for p, i in prefixes.items() if folded.startswith(p)), None)
        if index is not None:
            found.append((start, match.end(), index))
    return found


def _candidates(text: str, heads: set[str]) -> list[int]:
    """Starts of the words that begin with one of `heads`, in order. str.find on the
    lowered text is several times faster than a case-insensitive regular expression;
    where lowering changes the text's length (rare letters such as İ), the expression."""
    if not heads:
        return []
    lowered = text.lower()
    if len(lowered) != len(text):
        pattern = "|".join(map(re.escape, sorted(heads, key=len, reverse=True)))
        expression = re.compile(rf"(?<![^\W_])(?:{pattern})", re.IGNORECASE)
        return [match.start() for match in expression.finditer(text)]
    starts: set[int] = set()
    for head in heads:
        at = lowered.find(head)
        while at != -1:
            if (at == 0 or not _WORD.match(text, at - 1)) and _WORD.match(text, at):
                starts.add(at)
            at = lowered.find(head, at + 1)
    return sorted(starts)


def _span(text: str, hits: list[tuple[int, int, int]], words: int) -> tuple[int, int]:
    """Characters around the best cluster of hits: enough to hold the window."""
    if not hits:
        return 0, min(len(text), words * 20)
    centre = hits[_best_hit(hits, words * 8)][0]
    return max(0, centre - words * 8), min(len(text), centre + words * 16)


def _best_hit(hits: list[tuple[int, int, int]], reach: int) -> int:
    """The hit whose following `reach` characters hold the most distinct, then the most,
    query words (the earliest of equals). One pass with a sliding window: a body with a
    match in every word has hundreds of thousands of hits."""
    best, best_score = 0, (0, 0)
    inside: Counter[int] = Counter()  # query word index -> hits in the window
    end = 0
    for i, (start, _, index) in enumerate(hits):
        while end < len(hits) and hits[end][0] - start <= reach:
            inside[hits[end][2]] += 1
            end += 1
        score = (len(inside), end - i)
        if score > best_score:
            best, best_score = i, score
        inside[index] -= 1
        if not inside[index]:
            del inside[index]
    return best


def _first_token(tokens: list[re.Match[str]], hits: list[tuple[int, int, int]], words: int) -> int:
    """Index of the window's first token: the best hit, a few words of context before it."""
    if not hits or not tokens:
        return 0
    centre = hits[_best_hit(hits, words * 8)][0]
    at = next((i for i, t in enumerate(tokens) if t.start() >= centre), 0)
    return max(0, min(at - words // 6, len(tokens) - words))
