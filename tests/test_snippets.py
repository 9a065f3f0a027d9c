"""Search snippets: the passage with the most query terms, matches marked, text escaped."""

from hypothesis import given
from hypothesis import strategies as st

from app.search.query import parse_query
from app.search.snippets import snippet, stemmer

PORTER = stemmer("porter")
BODY = (
    "The council met on Monday to discuss the budget for the coming year. "
    "Much later, officials said armed militias had launched drones at the base. "
    "Nobody was hurt, and one drone was shot down over the river."
)


def test_stemmed_words_are_marked_in_the_passage_that_has_them_all() -> None:
    text = snippet(BODY, parse_query("militia drone"), PORTER, words=12)
    assert "<mark>militias</mark>" in text
    assert "<mark>drones</mark>" in text
    assert "budget" not in text  # the window with both terms, not the start of the body
    assert text.startswith("…")
    assert text.endswith("…")


def test_prefix_terms_match_word_starts_and_excluded_terms_are_not_marked() -> None:
    text = snippet(BODY, parse_query("offic* -drones"), PORTER, words=10)
    assert "<mark>officials</mark>" in text
    assert "<mark>drones</mark>" not in text


def test_text_around_the_marks_is_escaped() -> None:
    body = "Sources said <script>alert(1)</script> the talks & the vote failed."
    text = snippet(body, parse_query("talks"), PORTER)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert "&amp;" in text
    assert "<mark>talks</mark>" in text


def test_a_short_body_is_whole_and_has_no_ellipsis() -> None:
    assert snippet("Storm closes ports.", parse_query("storm"), PORTER) == (
        "<mark>Storm</mark> closes ports."
    )


def test_an_unknown_algorithm_matches_exact_words_only() -> None:
    simple = stemmer(None)
    text = snippet("Drones and a drone", parse_query("drone"), simple)
    assert text == "Drones and a <mark>drone</mark>"


@given(st.text(max_size=400), st.sampled_from(["drone", "the*", '"a b"', "x -y", "ünïcode"]))
def test_any_text_gives_a_snippet_of_its_own_words(body: str, query: str) -> None:
    text = snippet(body, parse_query(query), PORTER, words=8)
    plain = text.replace("<mark>", "").replace("</mark>", "").strip("…")
    assert len(plain.split()) <= len(body.split()) + 2
