"""Paragraph-level differences between two versions of an article body (pure).

difflib's SequenceMatcher compares every paragraph of one side with every equal paragraph of
the other: 12,000 identical paragraphs took it ~25 s. Here the cost is near-linear whatever
the text. Paragraphs become integers (one hash each); common ends match directly; patience
diff anchors on paragraphs that occur once on each side (a longest increasing subsequence,
O(n log n)) and treats the gaps between anchors the same way; a gap with no anchor gets
Myers' shortest edit, which is cheap when the sides differ little however repetitive they
are. A work budget proportional to the input bounds it all: what is left unmatched when it
is spent shows as changed. Hand-written: difflib has no bounded mode, and the patiencediff
package is GPL and raises on deep recursion.
"""

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

Op = Literal["equal", "added", "removed", "changed"]
# Steps (paragraphs compared or indexed) per paragraph of input, plus a floor for short
# bodies.
_WORK_PER_PARAGRAPH = 8
_MIN_WORK = 20_000
# The shortest-edit search of one gap without anchors may take this many steps per
# paragraph of the gap, plus a floor.
_EDIT_WORK_PER_PARAGRAPH = 4
_MIN_EDIT_WORK = 1_000
# Edits at most in one gap's shortest-edit search (it keeps ~edits^2 / 2 integers).
_MAX_EDITS = 1_000

Block = tuple[int, int, int]  # a[i : i + size] == b[j : j + size]


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
    chunks: list[Chunk] = []
    i = j = 0
    for x, y, size in [*_merged(_matches(a, b)), (len(a), len(b), 0)]:
        if x > i or y > j:
            op: Op = "changed" if x > i and y > j else "removed" if x > i else "added"
            chunks.append(Chunk(op, old[i:x], new[j:y]))
        if size:
            chunks.append(Chunk("equal", old[x : x + size], new[y : y + size]))
        i, j = x + size, y + size
    return chunks


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


def _merged(blocks: list[Block]) -> list[Block]:
    """Blocks in order, adjacent ones joined."""
    joined: list[Block] = []
    for x, y, size in sorted(blocks):
        if joined and joined[-1][0] + joined[-1][2] == x and joined[-1][1] + joined[-1][2] == y:
            joined[-1] = (joined[-1][0], joined[-1][1], joined[-1][2] + size)
        elif size:
            joined.append((x, y, size))
    return joined


def _matches(a: list[int], b: list[int]) -> list[Block]:
    """Blocks of equal paragraphs, increasing on both sides (in no particular order)."""
    found: list[Block] = []
    budget = _WORK_PER_PARAGRAPH * (len(a) + len(b)) + _MIN_WORK
    gaps = [(0, len(a), 0, len(b))]
    while gaps and budget > 0:
        alo, ahi, blo, bhi = gaps.pop()
        head = _run(a, b, alo, ahi, blo, bhi)
        tail = _run_back(a, b, ahi, alo + head, bhi, blo + head)
        found += [(alo, blo, head), (ahi - tail, bhi - tail, tail)]
        alo, blo, ahi, bhi = alo + head, blo + head, ahi - tail, bhi - tail
        size = (ahi - alo) + (bhi - blo)
        if alo == ahi or blo == bhi:
            continue
        budget -= size
        anchors, shared = _unique_common(a, b, alo, ahi, blo, bhi)
        if anchors:
            found += [(x, y, 1) for x, y in anchors]
            ends = [(alo - 1, blo - 1), *anchors, (ahi, bhi)]
            gaps += [(x + 1, x2, y + 1, y2) for (x, y), (x2, y2) in pairwise(ends)]
        elif shared:
            allowed = min(budget, _EDIT_WORK_PER_PARAGRAPH * size + _MIN_EDIT_WORK)
            blocks, left = _shortest_edit(a[alo:ahi], b[blo:bhi], allowed)
            budget -= allowed - left
            found += [(alo + x, blo + y, n) for x, y, n in blocks]
    return found


def _run(a: list[int], b: list[int], i: int, iend: int, j: int, jend: int) -> int:
    """How many paragraphs are equal from a[i] and b[j] on (up to a[iend] / b[jend])."""
    run = 0
    while i < iend and j < jend and a[i] == b[j]:
        i, j, run = i + 1, j + 1, run + 1
    return run


def _run_back(a: list[int], b: list[int], i: int, istop: int, j: int, jstop: int) -> int:
    """How many paragraphs are equal before a[i] and b[j] (down to a[istop] / b[jstop])."""
    run = 0
    while i > istop and j > jstop and a[i - 1] == b[j - 1]:
        i, j, run = i - 1, j - 1, run + 1
    return run


def _unique_common(
    a: list[int], b: list[int], alo: int, ahi: int, blo: int, bhi: int
) -> tuple[list[tuple[int, int]], bool]:
    """Patience diff's anchors: among paragraphs occurring exactly once in a[alo:ahi] and
    once in b[blo:bhi], the longest run in the same order on both sides; and whether the
    two sides share any paragraph at all."""
    in_a, in_b = Counter(a[alo:ahi]), Counter(b[blo:bhi])
    if in_a.keys().isdisjoint(in_b):
        return [], False
    position = {a[i]: i for i in range(alo, ahi) if in_a[a[i]] == 1 and in_b[a[i]] == 1}
    pairs = [(position[b[j]], j) for j in range(blo, bhi) if b[j] in position]
    # Longest increasing subsequence of the old positions, in new order (patience sorting).
    tops: list[int] = []  # the smallest old position that ends a run of each length
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
    chain = []
    index = top_index[-1] if top_index else -1
    while index >= 0:
        chain.append(pairs[index])
        index = previous[index]
    return chain[::-1], True


def _shortest_edit(a: list[int], b: list[int], budget: int) -> tuple[list[Block], int]:
    """Myers' greedy diff (fewest paragraphs added and removed), its equal blocks and the
    budget left. Gives up (no blocks: the gap stays one change) past _MAX_EDITS or once
    `budget` steps are spent."""
    n, m = len(a), len(b)
    if abs(n - m) > _MAX_EDITS or abs(n - m) ** 2 // 2 > budget:  # needs more edits than that
        return [], budget
    furthest: list[list[int]] = []  # [d][(k + d) // 2]: furthest x on diagonal k = x - y
    for d in range(min(n + m, _MAX_EDITS) + 1):
        budget -= d + 1
        reached: list[int] = []
        for k in range(-d, d + 1, 2):
            start = _start(furthest, d, k)
            x = start + _run(a, b, start, n, start - k, m)
            budget -= x - start
            reached.append(x)
            if x >= n and x - k >= m:
                furthest.append(reached)
                return _walk_back(furthest, n, m), budget
        if budget < 0:
            break
        furthest.append(reached)
    return [], budget


def _came_down(furthest: list[list[int]], d: int, k: int) -> bool:
    """Whether the d-th edit on diagonal k added a paragraph (came down from diagonal k + 1)
    rather than removed one (came right from k - 1): whichever had got further."""
    last = furthest[d - 1]  # diagonal j of edit d - 1 sits at index (j + d - 1) // 2
    return k == -d or (k != d and last[(k + d - 2) // 2] < last[(k + d) // 2])


def _start(furthest: list[list[int]], d: int, k: int) -> int:
    """x where the path with d edits on diagonal k starts (before its equal run)."""
    if d == 0:
        return 0
    last = furthest[d - 1]
    return last[(k + d) // 2] if _came_down(furthest, d, k) else last[(k + d - 2) // 2] + 1


def _walk_back(furthest: list[list[int]], x: int, y: int) -> list[Block]:
    """The equal blocks along the path `_shortest_edit` found, walked from its end."""
    blocks: list[Block] = []
    for d in range(len(furthest) - 1, -1, -1):
        k = x - y
        start = _start(furthest, d, k)
        if x > start:
            blocks.append((start, start - k, x - start))
        x, y = start, start - k
        if d:  # undo the edit that led onto this diagonal
            x, y = (x, y - 1) if _came_down(furthest, d, k) else (x - 1, y)
    return blocks
