"""Near-duplicate detection: republications match, different stories don't, values are stable."""

import hashlib
import itertools
import random
import unicodedata

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import neardup
from app.neardup import (
    Scheme,
    band_keys,
    decode,
    encode,
    is_near_duplicate,
    signature,
    similarity,
)

STORY = """\
Dock workers at the port of Valmora walked off the job on Tuesday, halting the loading of \
grain ships for the first time in eleven years, after talks over night-shift pay broke down \
late on Monday.

The union said about 2,300 members had joined the stoppage, which it described as open-ended. \
"We have asked for the same rate the harbour pilots got last spring, nothing more," said \
Irene Castell, the union's regional secretary, outside the main gate.

The port authority said it regretted the decision and that its offer of a 4 percent rise over \
two years remained on the table. Three bulk carriers were waiting at anchor on Tuesday \
afternoon, according to shipping data.

Grain traders warned that a strike lasting more than a week could delay exports already sold \
for delivery in the autumn, and push up freight rates across the region.

The labour ministry has invited both sides to a meeting on Thursday. The last strike at \
Valmora, in 2013, lasted nine days and ended with a mediated settlement."""

SAME_TOPIC = """\
Port workers in Corvena ended a four-day strike on Friday after accepting a new pay offer, \
the union said, allowing container traffic to resume at the country's second-largest harbour.

The agreement gives night-shift crews a 5 percent rise this year and a further increase next \
spring. About 1,800 members voted in favour at a meeting outside the terminal on Friday \
morning, union officials said.

Shipping agents said a backlog of about forty vessels would take at least a week to clear. \
Exporters of fruit, who had warned of spoiled cargo, welcomed the deal but asked the port \
authority to add extra shifts over the weekend.

The transport minister thanked both sides and said the government would review how disputes \
at strategic ports are mediated. A strike at the same harbour in 2017 lasted two weeks."""

# the two stories' words: random bodies drawn from them share the stories' vocabulary
WORDS = sorted({w.strip('.,"') for w in (STORY + SAME_TOPIC).lower().split()})


def paragraphs(seed: int, count: int = 5) -> list[str]:
    """A body of random words from one shared vocabulary: different stories, same words."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 70))).capitalize() + "."
        for _ in range(count)
    ]


def test_identical_bodies_are_near_duplicates() -> None:
    a, b = signature(STORY), signature(STORY)
    assert similarity(a, b) == 1.0
    assert is_near_duplicate(a, b)
    assert band_keys(a) == band_keys(b)


@pytest.mark.parametrize(
    "edited",
    [
        STORY.replace("Tuesday", "Wednesday", 1).replace("2,300", "2,400"),
        STORY.replace('"', "\u201c", 1).replace('"', "\u201d", 1).replace("'", "\u2019"),
        "  ".join(STORY.split(" ")).replace("\n\n", "\n \n\n"),
        STORY.upper(),
        "VALMORA, Sept 3 (Wire) - " + STORY,
        STORY + "\n\nReporting by Ana Ruiz; Editing by Tom Baker",
        STORY + "\n\n(c) 2024 Wire Service. All rights reserved. This material may not be "
        "published, broadcast, rewritten or redistributed.\n\nSign up for our newsletter.",
        "\n\n".join(p for i, p in enumerate(STORY.split("\n\n")) if i != 3),
    ],
    ids=["words", "quotes", "whitespace", "case", "dateline", "credit", "boilerplate", "drop"],
)
def test_lightly_edited_republication_matches(edited: str) -> None:
    a, b = signature(STORY), signature(edited)
    assert is_near_duplicate(a, b), similarity(a, b)
    assert set(band_keys(a)) & set(band_keys(b))


def test_new_headline_and_trailing_paragraph_match() -> None:
    """The headline is not part of the body; a credit line added at the end barely counts."""
    republished = STORY + "\n\nAdditional reporting by Li Wei in Corvena; Editing by Mira Das."
    a, b = signature(STORY), signature(republished)
    assert similarity(a, b) > 0.8
    assert is_near_duplicate(a, b)


def test_different_stories_on_the_same_topic_do_not_match() -> None:
    a, b = signature(STORY), signature(SAME_TOPIC)
    assert similarity(a, b) < 0.1
    assert not is_near_duplicate(a, b)
    assert not set(band_keys(a)) & set(band_keys(b))


def test_unrelated_bodies_from_one_vocabulary_do_not_match() -> None:
    sigs = [signature("\n\n".join(paragraphs(seed))) for seed in range(30)]
    for a, b in itertools.combinations(sigs, 2):
        assert not is_near_duplicate(a, b)
        assert similarity(a, b) < 0.2


def test_shared_boilerplate_does_not_make_stories_match() -> None:
    tail = "\n\nReporting by Ana Ruiz; Editing by Tom Baker\n\nSign up for our daily newsletter."
    a, b = signature(STORY + tail), signature(SAME_TOPIC + tail)
    assert not is_near_duplicate(a, b)


def test_band_keys_of_near_duplicates_intersect() -> None:
    rng = random.Random(5)
    for seed in range(20):
        body = paragraphs(seed, count=6)
        edited = list(body)
        del edited[rng.randrange(1, 6)]
        edited.append("Reporting by Sara Okafor; Editing by Jon Ek")
        a, b = signature("\n\n".join(body)), signature("\n\n".join(edited))
        assert is_near_duplicate(a, b)
        assert set(band_keys(a)) & set(band_keys(b))


def test_a_very_long_body_is_handled_like_a_short_one() -> None:
    body = "\n\n".join(p for seed in range(250) for p in paragraphs(seed))
    assert len(body) > 1 << 18  # past the cached power tables
    a, b = signature(body), signature(body + "\n\nReporting by Paul Roy")
    assert is_near_duplicate(a, b)
    assert set(band_keys(a)) & set(band_keys(b))


def test_band_keys_are_signed_64_bit_ints_one_per_band() -> None:
    keys = band_keys(signature(STORY))
    assert len(keys) == neardup.DEFAULT.bands
    assert len(set(keys)) == len(keys)
    assert all(isinstance(k, int) and -(2**63) <= k < 2**63 for k in keys)


def test_short_bodies_get_no_band_keys_and_never_match() -> None:
    short = "Shares rose sharply in early trading on Tuesday after the results."
    a = signature(short)
    assert a.words < neardup.DEFAULT.min_words
    assert band_keys(a) == []
    assert not is_near_duplicate(a, signature(short))


def test_empty_body_has_an_empty_signature() -> None:
    empty = signature(" \n\t ... ")
    assert empty.words == 0
    assert band_keys(empty) == []
    assert similarity(empty, empty) == 0.0


def test_encode_decode_round_trip() -> None:
    sig = signature(STORY)
    data = encode(sig)
    assert len(data) <= 300
    back = decode(data)
    assert back.words == sig.words
    assert np.array_equal(back.values, sig.values)
    assert band_keys(back) == band_keys(sig)
    assert similarity(back, sig) == 1.0


@pytest.mark.parametrize("data", [b"", b"\x01\x00", b"\x02" + bytes(260), b"\x01" + bytes(6)])
def test_decode_rejects_other_bytes(data: bytes) -> None:
    with pytest.raises(ValueError, match="encoded signature"):
        decode(data)


def test_golden_values_are_stable_across_processes_and_versions() -> None:
    """Stored signatures and band keys must never change silently: no hash() anywhere."""
    sig = signature(STORY)
    assert sig.words == 176
    assert hashlib.sha256(encode(sig)).hexdigest()[:16] == "75afc1f5e376d31d"
    assert band_keys(sig)[:3] == [
        341928509426258358,
        -1086696707927891690,
        -4829028215832244792,
    ]


def test_other_parameters_give_other_band_keys() -> None:
    other = Scheme(shingle_words=5)
    assert not set(other.band_keys(other.signature(STORY))) & set(band_keys(signature(STORY)))


@pytest.mark.parametrize(
    "options", [{"hashes": 100}, {"bands": 50}, {"rows": 5, "bands": 4}, {"shingle_words": 0}]
)
def test_scheme_rejects_impossible_parameters(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must"):
        Scheme(**options)


def reference_words(text: str) -> list[str]:
    """The documented definition, written the slow and obvious way."""
    text = unicodedata.normalize("NFKC", text).casefold()

    def word_char(c: str) -> bool:
        return c.isalnum() or unicodedata.category(c)[0] == "M"

    return ["".join(g) for keep, g in itertools.groupby(text, word_char) if keep]


def fast_words(text: str) -> list[str]:
    chars = "".join(map(chr, neardup._folded_code_points(text).tolist()))
    return [w for w in chars.split("\x00") if w]


TRICKY = [*"ßẞİﬁ…\xa0Ⅻ①ｆＵｌｌ_-'’\u0301\u200bΣσς", "\U00010400", "\U0001f600", "\U00020000"]


@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(TRICKY))))
def test_fast_tokenizer_matches_the_definition(text: str) -> None:
    assert fast_words(text) == reference_words(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Straße STRASSE", ["strasse", "strasse"]),
        ("ﬁnal ＦＵＬＬ width", ["final", "full", "width"]),
        ("don't stop_now", ["don", "t", "stop", "now"]),
        ("café vs cafe\u0301", ["café", "vs", "café"]),
        ("\U00010400\U00010401 ok \U0001f600", ["\U00010428\U00010429", "ok"]),
        ("lone \ud800 surrogate", ["lone", "surrogate"]),
    ],
)
def test_words_are_nfkc_casefolded_alphanumeric_runs(text: str, words: list[str]) -> None:
    assert fast_words(text) == words


@given(st.text())
def test_signature_never_raises_and_is_deterministic(text: str) -> None:
    a, b = signature(text), signature(text)
    assert np.array_equal(a.values, b.values)
    assert a.words == b.words
    assert band_keys(a) == band_keys(b)
