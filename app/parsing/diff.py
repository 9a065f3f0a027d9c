"""Paragraph-level differences between two versions of an article body (pure).

difflib's SequenceMatcher compares every paragraph of one side with every equal paragraph of
the other: 12,000 identical paragraphs took it ~25 s. Here the cost is near-linear whatever
the text: paragraphs become integers (one hash each), common ends match directly, then
patience diff anchors on paragraphs that occur once on each side (a longest increasing
subsequence, O(n log n)) and works on the gaps between anchors the same way. A gap with no
anchor goes to SequenceMatcher only when it is small; a large one stays one "changed" run,
and so does whatever is left once a work budget proportional to the input is spent.
Hand-written: the patiencediff package is GPL and raises on deep recursion, and difflib
has no bounded mode.
"""

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

Op = Literal["equal", "added", "removed", "changed"]
# Gaps without an anchor up to this many paragraph pairs (old x new) get difflib's finer
# matching; its cost grows with that product.
_SMALL_GAP = 2_500
# Paragraphs examined per paragraph of input before the rest is left coarse.
_WORK_PER_PARAGRAPH = 32

Pairs = list[tuple[int, int]]
Opcode = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class Chunk:
    op: Op
    old: list[str]
    new: list[str]


@dataclass(frozen=True)
class Stats:
    added: int
    removed: int
    changed: int


def split_paragraphs(body: str) -> list[str]:
    return [p for p in body.split("\n\n") if p]


def diff_paragraphs(old_body: str, new_body: str) -> list[Chunk]:
    """The new body as runs of equal, added, removed and changed paragraphs."""
    old, new = split_paragraphs(old_body), split_paragraphs(new_body)
    ids: dict[str, int] = {}
    a = [ids.setdefault(p, len(ids)) for p in old]
    b = [ids.setdefault(p, len(ids)) for p in new]
    return [Chunk(op, old[i1:i2], new[j1:j2]) for op, i1, i2, j1, j2 in _opcodes(a, b)]


def diff_stats(old_body: str, new_body: str) -> Stats:
    """Counts of paragraphs added, removed and changed (a replaced run counts as changed
    up to the shorter side; the rest of it as added or removed)."""
    added = removed = changed = 0
    for chunk in diff_paragraphs(old_body, new_body):
        if chunk.op == "added":
            added += len(chunk.new)
        elif chunk.op == "removed":
            removed += len(chunk.old)
        elif chunk.op == "changed":
            both = min(len(chunk.old), len(chunk.new))
            changed += both
            added += len(chunk.new) - both
            removed += len(chunk.old) - both
    return Stats(added, removed, changed)


def _opcodes(a: list[int], b: list[int]) -> list[Opcode]:
    """Runs of the two sequences between and along their matched pairs."""
    runs: list[Opcode] = []
    i = j = 0
    for x, y in [*sorted(_matches(a, b)), (len(a), len(b))]:
        if x > i or y > j:
            runs.append(("changed" if x > i and y > j else "removed" if x > i else "added", i, x, j, y))
        if x < len(a):
            if runs and runs[-1][0] == "equal":
                op, i1, _, j1, _ = runs.pop()
                runs.append((op, i1, x + 1, j1, y + 1))
            else:
                runs.append(("equal", x, x + 1, y, y + 1))
        i, j = x + 1, y + 1
    return runs


def _matches(a: list[int], b: list[int]) -> Pairs:
    """Pairs (i, j) with a[i] == b[j], increasing on both sides (in no particular order)."""
    found: Pairs = []
    budget = _WORK_PER_PARAGRAPH * (len(a) + len(b)) + _SMALL_GAP
    gaps = [(0, len(a), 0, len(b))]
    while gaps:
        alo, ahi, blo, bhi = gaps.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:  # common head
            found.append((alo, blo))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:  # common tail
            ahi, bhi = ahi - 1, bhi - 1
            found.append((ahi, bhi))
        budget -= (ahi - alo) + (bhi - blo)
        if alo == ahi or blo == bhi or budget < 0:
            continue
        if anchors := _unique_common(a, b, alo, ahi, blo, bhi):
            found += anchors
            ends = [(alo - 1, blo - 1), *anchors, (ahi, bhi)]
            gaps += [(x + 1, x2, y + 1, y2) for (x, y), (x2, y2) in zip(ends, ends[1:])]
        elif (ahi - alo) * (bhi - blo) <= _SMALL_GAP:
            budget -= (ahi - alo) * (bhi - blo)
            matcher = SequenceMatcher(a=a[alo:ahi], b=b[blo:bhi], autojunk=False)
            for i, j, size in matcher.get_matching_blocks():
                found += [(alo + i + k, blo + j + k) for k in range(size)]
    return found


def _unique_common(a: list[int], b: list[int], alo: int, ahi: int, blo: int, bhi: int) -> Pairs:
    """Patience diff's anchors: among paragraphs occurring exactly once in a[alo:ahi] and
    once in b[blo:bhi], the longest run in the same order on both sides."""
    in_a, in_b = Counter(a[alo:ahi]), Counter(b[blo:bhi])
    position = {a[i]: i for i in range(alo, ahi) if in_a[a[i]] == 1 and in_b[a[i]] == 1}
    pairs = [(position[b[j]], j) for j in range(blo, bhi) if b[j] in position]
    # Longest increasing subsequence of the old positions, in new order (patience sorting).
    tops: list[int] = []  # smallest old position ending a run of each length
    top_index: list[int] = []
    previous: list[int] = []
    for index, (i, _) in enumerate(pairs):
        length = bisect_left(tops, i)
        if length == len(tops):
            tops.append(i)
            top_index.append(index)
        else:
            tops[length], top_index[length] = i, index
        previous.append(top_index[length - 1] if length else -1)
    chain: Pairs = []
    index = top_index[-1] if top_index else -1
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1]
