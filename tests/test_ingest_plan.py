"""The storing rules, decided on plain values (app.ingest.plan): what a batch of articles will
become, given what the archive already holds. Each case is something a user would notice in
the answer to an import: created, duplicate, updated (a new revision), deleted, error."""

from app.errors import Unprocessable
from app.ingest.plan import Create, Duplicate, Merge, New, Outcome, Stored, plan_batch
from app.ingest.prepare import Prepared, Unchanged
from app.parsing.seed_text import parse_seed_text
from app.parsing.urls import normalize_url

URL = "https://news.example/2026/story"


def article(text: str, *urls: str) -> Prepared:
    return Prepared(parse_seed_text(f"Headline\n\n{text}"), urls)


def key(url: str) -> str:
    found = normalize_url(url)
    assert found
    return found


STORY = article("The council met on Monday.", URL)
EDITED = article("The council met on Monday and voted.", URL)
EMPTY = Stored(by_hash={}, by_url={})


def test_a_new_article_is_created() -> None:
    plan = plan_batch([STORY], EMPTY)

    assert plan.statuses == ["created"]
    assert plan.new == [STORY]


def test_the_same_text_again_is_a_duplicate_without_a_new_revision() -> None:
    stored = Stored(by_hash={STORY.digest: 7}, by_url={key(URL): 7})

    plan = plan_batch([STORY], stored)

    assert plan.statuses == ["duplicate"]
    assert plan.steps == [Merge(STORY, 7, by_url=True, revise=False)]
    assert plan.new == []
    assert plan.revising == frozenset()


def test_new_text_at_a_known_url_becomes_the_next_revision_of_that_article() -> None:
    stored = Stored(by_hash={STORY.digest: 7}, by_url={key(URL): 7})

    plan = plan_batch([EDITED], stored)

    assert plan.statuses == ["updated"]
    assert plan.steps == [Merge(EDITED, 7, by_url=True, revise=True)]
    assert plan.revising == {7}  # its row is locked, so the revision number stays current


def test_an_earlier_version_sent_again_revises_nothing() -> None:
    # article 7 was STORY, then EDITED: its first text arriving again is that same article
    stored = Stored(by_hash={STORY.digest: 7, EDITED.digest: 7}, by_url={key(URL): 7})

    assert plan_batch([STORY], stored).statuses == ["duplicate"]


def test_the_same_text_on_another_site_is_a_duplicate_found_by_its_text() -> None:
    copy = article("The council met on Monday.", "https://elsewhere.example/copy")
    stored = Stored(by_hash={STORY.digest: 7}, by_url={key(URL): 7})

    plan = plan_batch([copy], stored)

    assert plan.steps == [Merge(copy, 7, by_url=False, revise=False)]
    assert plan.statuses == ["duplicate"]


def test_a_url_of_one_article_with_the_text_of_another_changes_neither() -> None:
    stored = Stored(by_hash={STORY.digest: 7, EDITED.digest: 9}, by_url={key(URL): 7})

    plan = plan_batch([EDITED], stored)

    assert plan.steps == [Duplicate(9)]
    assert plan.revising == frozenset()


def test_a_deleted_article_sent_again_is_refused() -> None:
    stored = Stored(by_hash={}, by_url={}, tombstones={f"url:{key(URL)}": 7})

    plan = plan_batch([EDITED], stored)  # other text, but the URL of the deleted article

    assert plan.steps == [Outcome("deleted", 7)]
    assert plan.new == []
    assert plan.unbury == []


def test_restore_lifts_the_tombstone_and_stores_the_article_again() -> None:
    tombstones = {f"hash:{STORY.digest}": 7, f"url:{key(URL)}": 7}
    stored = Stored(by_hash={}, by_url={}, tombstones=tombstones)

    plan = plan_batch([STORY], stored, restore=True)

    assert plan.statuses == ["created"]
    assert plan.unbury == sorted(tombstones)


def test_the_same_article_twice_in_one_batch_is_stored_once() -> None:
    plan = plan_batch([STORY, STORY], EMPTY)

    assert plan.steps == [Create(0), Merge(STORY, New(0), by_url=False, revise=False)]
    assert plan.statuses == ["created", "duplicate"]
    assert plan.new == [STORY]


def test_an_edit_later_in_the_same_batch_revises_the_article_just_created() -> None:
    plan = plan_batch([STORY, EDITED], EMPTY)

    assert plan.steps == [Create(0), Merge(EDITED, New(0), by_url=True, revise=True)]
    assert plan.revising == frozenset()  # created in this transaction: nothing to lock


def test_one_new_text_at_two_known_urls_revises_only_the_first() -> None:
    other = "https://news.example/2026/other"
    stored = Stored(by_hash={}, by_url={key(URL): 7, key(other): 8})
    second = article("The council met on Monday and voted.", other)

    plan = plan_batch([EDITED, second], stored)

    assert plan.statuses == ["updated", "duplicate"]
    assert plan.steps[1] == Duplicate(7)


def test_errors_and_unchanged_pages_are_reported_in_place() -> None:
    error = Unprocessable("no body paragraph")

    plan = plan_batch([error, Unchanged(5), STORY], EMPTY)

    assert plan.steps[:2] == [Outcome("error", error="no body paragraph"), Outcome("unchanged", 5)]
    assert plan.statuses == ["error", "unchanged", "created"]
