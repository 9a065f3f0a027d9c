"""Paragraph-level differences between two versions of an article body (pure)."""

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

Op = Literal["equal", "added", "removed", "changed"]
_OPS: dict[str, Op] = {
    "equal": "equal",
    "insert": "added",
    "delete": "removed",
    "replace": "changed",
}


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
    matcher = SequenceMatcher(a=old, b=new, autojunk=False)
    return [
        Chunk(_OPS[tag], old[i1:i2], new[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
    ]


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
