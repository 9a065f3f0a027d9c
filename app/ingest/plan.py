"""What storing a batch will do, decided without the database: pure inputs in, a Plan out.

Given the prepared items and what the database already holds for their keys (`Stored`: the
articles their content hashes and normalized URLs name, and the tombstones of deleted ones),
each item gets one step:

    error, unchanged (a 304), deleted (a tombstone)   reported as they are
    Create                                            a new article
    Merge                                             a known article seen again: new URLs
                                                      and bytes kept; a new revision when a
                                                      known URL now has a text stored nowhere
    Duplicate                                         a text already stored as another article

`app.ingest.store` looks `Stored` up, then applies the plan. Deciding first keeps the rules
(what is new, what is a revision, what a tombstone refuses) testable on plain values.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from app.errors import AppError
from app.ingest.prepare import Item, Prepared, Unchanged

Status = Literal["created", "duplicate", "updated", "unchanged", "deleted", "error"]
STATUSES: tuple[Status, ...] = ("created", "duplicate", "updated", "unchanged", "deleted", "error")


@dataclass(frozen=True)
class Outcome:
    status: Status
    article_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class New:
    """The `index`-th article that this batch creates (its id is known once inserted)."""

    index: int


Target = int | New  # a stored article's id, or an article this batch creates


@dataclass(frozen=True)
class Create:
    index: int  # into Plan.new

    status: ClassVar[Status] = "created"


@dataclass(frozen=True)
class Merge:
    """`item` names `target`: by one of its URLs (`by_url`) or else by its text."""

    item: Prepared
    target: Target
    by_url: bool
    revise: bool  # its text is stored nowhere: it becomes the target's new revision

    @property
    def status(self) -> Status:
        return "updated" if self.revise else "duplicate"


@dataclass(frozen=True)
class Duplicate:
    """The item's text is stored already as `target`, another article than its URL names."""

    target: Target

    status: ClassVar[Status] = "duplicate"


Step = Outcome | Create | Merge | Duplicate


@dataclass(frozen=True)
class Stored:
    """What the database holds for a batch's keys, looked up under their locks."""

    by_hash: Mapping[str, int]  # content hash (current text or earlier revision) -> article
    by_url: Mapping[str, int]  # normalized URL -> article
    tombstones: Mapping[str, int] = field(default_factory=dict)  # identity key -> deleted id


@dataclass(frozen=True)
class Plan:
    steps: list[Step]  # one per item, in order
    new: list[Prepared]  # the articles to create, in the order of their Create steps
    revising: frozenset[int]  # stored articles that get a new revision (locked first)
    unbury: list[str]  # tombstone keys lifted by `restore`

    @property
    def statuses(self) -> list[Status]:
        return [step.status for step in self.steps]


def plan_batch(items: Sequence[Item], stored: Stored, *, restore: bool = False) -> Plan:
    """One step per item. An item naming a deleted article (by its text or a URL) is refused
    as "deleted", unless `restore`, which lifts those tombstones and stores it again."""
    buried = _buried(items, stored.tombstones)
    unbury = sorted(buried) if restore else []
    matches, new = _match_all(items, stored, {} if restore else buried)
    # Who holds each text as the steps apply: stored texts, the new articles', then each
    # revision's, so a later item with that text is a duplicate, not a second revision.
    texts: dict[str, Target] = {**stored.by_hash, **{p.digest: New(i) for i, p in enumerate(new)}}
    steps = [_step(match, texts) for match in matches]
    revising = {s.target for s in steps if isinstance(s, Merge) and s.revise}
    return Plan(steps, new, frozenset(t for t in revising if isinstance(t, int)), unbury)


def _buried(items: Sequence[Item], tombstones: Mapping[str, int]) -> dict[str, int]:
    keys = {k for i in items if isinstance(i, Prepared) for k in i.identity}
    return {k: tombstones[k] for k in keys if k in tombstones}


@dataclass(frozen=True)
class _Known:
    """An item that names an article: a stored one, or one created earlier in the batch."""

    item: Prepared
    target: Target
    by_url: bool


def _match_all(
    items: Sequence[Item], stored: Stored, buried: Mapping[str, int]
) -> tuple[list[Outcome | Create | _Known], list[Prepared]]:
    """What each item names (by URL first, else by text), and the items that are new."""
    matches: list[Outcome | Create | _Known] = []
    new: list[Prepared] = []
    slots: dict[str, int] = {}  # identity key -> index of the new item it names
    for item in items:
        if isinstance(item, AppError):
            matches.append(Outcome("error", error=item.detail))
        elif isinstance(item, Unchanged):
            matches.append(Outcome("unchanged", item.article_id))
        elif (grave := _first(item.identity, buried)) is not None:
            matches.append(Outcome("deleted", grave))
        elif (url_hit := _first(item.url_keys, stored.by_url)) is not None:
            matches.append(_Known(item, url_hit, by_url=True))
        elif item.digest in stored.by_hash:
            matches.append(_Known(item, stored.by_hash[item.digest], by_url=False))
        elif (earlier := _first(item.identity, slots)) is not None:
            by_url = f"hash:{item.digest}" not in slots
            matches.append(_Known(item, New(earlier), by_url))
        else:
            slots.update(dict.fromkeys(item.identity, len(new)))
            matches.append(Create(len(new)))
            new.append(item)
    return matches, new


def _first(keys: Iterable[str], found: Mapping[str, int]) -> int | None:
    return next((found[k] for k in keys if k in found), None)


def _step(match: Outcome | Create | _Known, texts: dict[str, Target]) -> Step:
    if not isinstance(match, _Known):
        return match
    item, target = match.item, match.target
    owner = texts.get(item.digest)
    if owner is not None and owner != target:
        return Duplicate(owner)  # this text is stored already, as another article
    # A new revision only for a known URL with a text stored nowhere: found by its text
    # alone, a copy (on another site, say) changes nothing.
    revise = match.by_url and owner is None
    if revise:
        texts[item.digest] = target
    return Merge(item, target, match.by_url, revise)
