"""The seed-text parser: golden files, hand-written cases, and properties (hypothesis)."""

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import Unprocessable
from app.parsing.seed_text import parse_seed_text
from app.schemas import NormalizedArticle
from tests.conftest import SEEDS

GOLDEN = sorted(SEEDS.glob("*.txt"))


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_seed_parses_to_expected_json(path: Path) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text(encoding="utf-8"))
    article = parse_seed_text(path.read_text(encoding="utf-8"))
    assert article.model_dump(include=set(expected)) == expected


def test_hard_wrapped_lines_join_with_single_spaces() -> None:
    article = parse_seed_text("Title\n\nFirst line of a\nwrapped   paragraph.\n\nSecond one.")
    assert article.body == "First line of a wrapped paragraph.\n\nSecond one."


def test_headline_is_first_non_empty_line_even_after_blank_lines() -> None:
    article = parse_seed_text("\n\n   \n  The headline  \nBody starts right here.\n")
    assert article.headline == "The headline"
    assert article.body == "Body starts right here."


@pytest.mark.parametrize("line", ["Source: AP", "SOURCE: AP", "source:AP", "Source : AP."])
def test_source_line_in_any_case(line: str) -> None:
    article = parse_seed_text(f"H\n\nBody text here.\n\n{line}")
    assert article.source == "AP"
    assert article.body == "Body text here."


@pytest.mark.parametrize(
    ("line", "title", "url"),
    [
        ("Also read: Iran cozies up", "Iran cozies up", None),
        ("READ MORE: https://ex.com/a?b=1", None, "https://ex.com/a?b=1"),
        ("Related: Ports close – https://ex.com/p", "Ports close", "https://ex.com/p"),
        ("See also: https://ex.com/x | Storm season", "Storm season", "https://ex.com/x"),
        ("see also:    Quiet title   ", "Quiet title", None),
    ],
)
def test_related_link_lines(line: str, title: str | None, url: str | None) -> None:
    article = parse_seed_text(f"H\n\nBody text here.\n\n{line}")
    assert [(link.title, link.url) for link in article.related_links] == [(title, url)]
    assert article.body == "Body text here."


def test_empty_related_line_is_ignored() -> None:
    assert parse_seed_text("H\n\nBody.\n\nAlso read:\n").related_links == []


def test_related_links_keep_their_order() -> None:
    text = "H\n\nBody.\n\nAlso read: One\nRead more: Two\nRelated: Three"
    titles = [link.title for link in parse_seed_text(text).related_links]
    assert titles == ["One", "Two", "Three"]


@pytest.mark.parametrize("labels", ["Latest news\nRelated news", "Most read", "Share\n\nMore"])
def test_trailing_navigation_labels_are_dropped(labels: str) -> None:
    article = parse_seed_text(f"H\n\nThe body is a sentence.\n\n{labels}")
    assert article.body == "The body is a sentence."


def test_short_real_last_sentence_is_body() -> None:
    article = parse_seed_text("H\n\nLong paragraph of the story.\n\nHe declined to comment.")
    assert article.body.endswith("He declined to comment.")


def test_navigation_label_inside_body_is_kept() -> None:
    article = parse_seed_text("H\n\nA sentence.\n\nSubheading in the story\n\nMore text here.")
    assert "Subheading in the story" in article.body


def test_wrapped_last_paragraph_without_period_is_kept() -> None:
    article = parse_seed_text("H\n\nThe talks are a long\nway from a conclusion")
    assert article.body == "The talks are a long way from a conclusion"


def test_label_lines_after_a_finished_sentence_in_the_same_block_are_dropped() -> None:
    article = parse_seed_text("H\n\nHe declined to comment.\nLatest news\nMost read")
    assert article.body == "He declined to comment."


@pytest.mark.parametrize(
    "text", ["", "   \n\n", "Only a headline", "Headline\n\nSource: Reuters", "H\n\nLatest news"]
)
def test_text_without_body_is_rejected_saying_what_is_missing(text: str) -> None:
    with pytest.raises(Unprocessable, match=r"body|empty"):
        parse_seed_text(text)


def test_hygiene_bom_crlf_zero_width_nfc_whitespace() -> None:
    raw = "\ufeffHead\u200bline\r\n\r\nCafe\u0301 na\u00efve\u00a0 text\tgoes.\rOn here.\r\n"
    article = parse_seed_text(raw)
    assert article.headline == "Headline"
    assert article.body == "Caf\u00e9 na\u00efve text goes. On here."


# --- properties -------------------------------------------------------------------------

_WORD = st.text(
    alphabet=st.characters(categories=["L", "N"], max_codepoint=0x2FFF), min_size=1, max_size=8
).map(lambda w: unicodedata.normalize("NFC", w))
_SENTENCE = st.lists(_WORD, min_size=1, max_size=12).map(lambda ws: " ".join(ws) + ".")
_PARAGRAPH = st.lists(_SENTENCE, min_size=1, max_size=4).map(" ".join)


def render(article: NormalizedArticle) -> str:
    """Seed text for an article: what a well-behaved client would send."""
    lines = [article.headline, "", article.body, ""]
    if article.source:
        lines.append(f"Source: {article.source}")
    for link in article.related_links:
        lines.append("Also read: " + " ".join(x for x in (link.url, link.title) if x))
    return "\n".join(lines)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_parser_never_crashes(text: str) -> None:
    try:
        article = parse_seed_text(text)
    except Unprocessable:
        return
    assert article.headline
    assert article.body


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_output_is_idempotent_under_re_normalization(text: str) -> None:
    try:
        article = parse_seed_text(text)
    except Unprocessable:
        return
    again = parse_seed_text(render(article))
    assert again.headline == article.headline
    assert again.body == article.body
    assert again.source == article.source
    assert again.related_links == article.related_links


@settings(max_examples=200, deadline=None)
@given(_SENTENCE, st.lists(_PARAGRAPH, min_size=1, max_size=6), st.integers(20, 80))
def test_nothing_of_the_body_is_lost(headline: str, paragraphs: list[str], width: int) -> None:
    wrapped = ["\n".join(_wrap(p, width)) for p in paragraphs]
    article = parse_seed_text(headline + "\n\n" + "\n\n".join(wrapped) + "\n\nLatest news\n")
    assert article.body == "\n\n".join(paragraphs)


def _wrap(paragraph: str, width: int) -> list[str]:
    lines, current = [], ""
    for word in paragraph.split(" "):
        if current and len(current) + len(word) >= width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return [*lines, current]
