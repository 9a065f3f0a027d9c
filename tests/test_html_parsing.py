"""HTML extraction: golden pages from the extraction corpus, then one rule per small page."""

import gzip
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import Unprocessable
from app.parsing.html import EXTRACTOR, extract_article, extract_page
from app.parsing.html.credits import closing_credit_wire, dateline_wire
from app.parsing.html.dates import parse_datetime
from app.parsing.html.metadata import strip_site_suffix
from app.parsing.html.names import split_byline
from app.schemas import RelatedLink

PAGES = Path(__file__).parent / "data" / "html"
TEXT = (
    "The storm reached the coast early on Tuesday, closing three ports and cutting power to "
    "tens of thousands of homes along the shore, officials said in a statement.",
    "Harbour masters said ships would stay at anchor until the wind dropped below gale force, "
    "which forecasters expect by Thursday morning at the earliest.",
    "Emergency crews worked through the night to clear fallen trees from the main coastal "
    "road, and schools in four districts will remain closed for the rest of the week.",
)


def page(head: str = "", body: str = "", paragraphs: tuple[str, ...] = TEXT) -> str:
    """A small but realistic article page: head tags, an <article> of paragraphs, extras."""
    text = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head>"
        f"<body><article>{body}{text}</article></body></html>"
    )


def ld(json: str) -> str:
    return f'<script type="application/ld+json">{json}</script>'


# ---- golden pages (values checked by hand against each page's markup) ----

GOLDEN = [
    pytest.param(
        "05844573ca7e1fba714d715bb11ca08c26e25328999c74a1cb3bc8a0e4399f0f",
        "https://www.ctpost.com/news/us/article/New-SUVs-and-electric-vehicles-highlight-L-A-14848164.php",
        {
            "headline": "New SUVs and electric vehicles highlight L.A. Auto Show",
            "authors": ["Tom Krisher"],  # byline "Tom Krisher, Ap Auto Writer"
            "published_at": datetime(2019, 11, 20, 6, 35, 39, tzinfo=UTC),
            "source": "AP",  # JSON-LD publisher "Associated Press" on a newspaper's site
            "canonical_url": "https://www.ctpost.com/news/us/article/New-SUVs-and-electric-vehicles-highlight-L-A-14848164.php",
            "language": None,  # no lang attribute, no language meta
        },
        id="wire-story-on-newspaper-site",
    ),
    pytest.param(
        "7a664e40d256470fdb12d10c3f8d1c6db0581e9b080c71765e55f273a3ac7d03",
        "https://www.cbsnews.com/news/impeachment-hearings-key-moments-from-kurt-volkers-and-tim-morrisons-testimony-2019-11-19/",
        {
            # <title> differs; modal-dialog and logo <h1>s come before the article's
            "headline": "Key moments from Kurt Volker's and Tim Morrison's "
            "impeachment hearing testimony",
            "authors": ["Stefan Becket", "Kathryn Watson", "Grace Segers"],  # JSON-LD: first only
            "published_at": datetime(2019, 11, 20, 6, 7, 1, tzinfo=UTC),
            "source": "CBS News",
            "canonical_url": "https://www.cbsnews.com/news/impeachment-hearings-key-moments-from-kurt-volkers-and-tim-morrisons-testimony-2019-11-19/",
            "language": "en-us",
        },
        id="three-authors",
    ),
    pytest.param(
        "1ace8c85aaee21b9d4505eca506d50c4721c29db62848b567a9703bfe0583892",
        "https://techcrunch.com/2019/11/18/new-york-state-attorney-general-reportedly-investigating-wework/",
        {
            "headline": "New York State Attorney General reportedly investigating WeWork",
            "authors": ["Catherine Shu"],
            # JSON-LD "2019-11-19T04:58:46Z"; sailthru.date "2019-11-18 20:58:46" is local time
            "published_at": datetime(2019, 11, 19, 4, 58, 46, tzinfo=UTC),
            "source": "TechCrunch",
            "canonical_url": "https://techcrunch.com/2019/11/18/new-york-state-attorney-general-reportedly-investigating-wework/",
            "language": "en-us",
        },
        id="utc-and-local-times",
    ),
    pytest.param(
        "ba07d1e64775f4090e39116c382111f5a2cfe9528dd179673f4e9bfcea370c15",
        "https://blog.comwrap.com/comwrap-auf-der-dmexco-2018",
        {
            "headline": "Take C.A.R.E. - comwrap auf der DMEXCO 2018",
            "authors": ["Moritz Bachmann"],
            "published_at": datetime(2018, 7, 30, tzinfo=UTC),  # only "publiziert am 30. Juli"
            "source": "blog.comwrap.com",  # no site name anywhere: the domain
            "canonical_url": "https://blog.comwrap.com/comwrap-auf-der-dmexco-2018",
            "language": "de",  # <html lang="en"> template default; Content-Language "de"
        },
        id="german-blog-no-metadata-date",
    ),
]


@pytest.mark.parametrize(("page_id", "url", "expected"), GOLDEN)
def test_golden_pages(page_id: str, url: str, expected: dict[str, object]) -> None:
    html = gzip.decompress((PAGES / f"{page_id}.html.gz").read_bytes())
    article = extract_article(html, url)
    assert {name: getattr(article, name) for name in expected} == expected
    assert article.url == url
    assert len(article.body.split()) > 150
    assert "\n\n" in article.body
    assert "\n\n\n" not in article.body
    assert article.extraction is not None
    assert article.extraction.extractor == EXTRACTOR


def test_golden_page_keeps_the_declared_local_offset() -> None:
    html = gzip.decompress((PAGES / f"{GOLDEN[2].values[0]}.html.gz").read_bytes())
    declared = extract_page(html, str(GOLDEN[2].values[1])).published_declared
    assert declared is not None
    assert declared.utcoffset() == timedelta(hours=-8)
    assert declared.date().isoformat() == "2019-11-18"


def test_golden_page_provenance() -> None:
    html = gzip.decompress((PAGES / f"{GOLDEN[3].values[0]}.html.gz").read_bytes())
    fields = extract_article(html, str(GOLDEN[3].values[1])).extraction.fields  # type: ignore[union-attr]
    assert fields["published_at"] == "htmldate"
    assert fields["source"] == "domain"
    assert fields["language"] == "meta"
    assert fields["body"] == "trafilatura"


# ---- precedence between structured data, meta tags and visible markup ----


def test_json_ld_wins_over_meta_tags() -> None:
    head = ld(
        '{"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Storm hits",'
        ' "datePublished": "2019-11-18T10:00:00Z", "publisher": {"@type": "Organization",'
        ' "name": "Coast Times"}}'
    )
    head += '<meta property="article:published_time" content="2019-11-17T10:00:00Z">'
    head += '<meta property="og:site_name" content="The Coast Times Online">'
    article = extract_article(page(head), "https://coast.example/news/storm-hits")
    assert article.published_at == datetime(2019, 11, 18, 10, tzinfo=UTC)
    assert article.source == "Coast Times"
    assert article.extraction is not None
    assert article.extraction.fields["published_at"] == "json-ld"
    assert article.extraction.fields["source"] == "json-ld"


def test_json_ld_graph_references_are_resolved() -> None:
    head = ld(
        '{"@context": "https://schema.org", "@graph": ['
        '{"@type": "Article", "@id": "#a", "headline": "Storm hits", "author": {"@id": "#p"},'
        ' "datePublished": "2019-11-18"},'
        '{"@type": "Person", "@id": "#p", "name": "Jane Doe"}]}'
    )
    body = "<p>Jane Doe reports from the harbour.</p>"
    article = extract_article(page(head, body), "https://coast.example/news/storm-hits")
    assert article.authors == ["Jane Doe"]
    assert article.extraction is not None
    assert article.extraction.fields["authors"] == "json-ld"


def test_metadata_only_author_must_appear_on_the_page() -> None:
    head = '<meta name="author" content="Kevin Account">'
    article = extract_article(page(head), "https://coast.example/news/storm-hits")
    assert article.authors == []


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "Storm closes ports along the coast | The Daily Planet",
            "Storm closes ports along the coast",
        ),
        ("Storm closes ports along the coast - Daily Planet", "Storm closes ports along the coast"),
        ("The Daily Planet :: Storm closes ports", "Storm closes ports"),
        (
            "Milan Design Week 2018 | A light installation",
            "Milan Design Week 2018 | A light installation",
        ),
    ],
)
def test_site_suffix_is_stripped_from_titles(title: str, expected: str) -> None:
    head = f"<title>{title}</title><meta property='og:site_name' content='The Daily Planet'>"
    article = extract_article(page(head), "https://www.dailyplanet.example/news/storm")
    assert article.headline == expected


def test_site_suffix_known_only_from_the_domain() -> None:
    assert strip_site_suffix("Storm closes ports – DailyPlanet.com", ["dailyplanet"]) == (
        "Storm closes ports"
    )


def test_visible_h1_wins_over_a_differing_og_title() -> None:
    head = "<meta property='og:title' content='Ports close as storm hits: what to know'>"
    body = "<h1>Storm closes three ports along the coast</h1>"
    article = extract_article(page(head, body), "https://coast.example/news/storm")
    assert article.headline == "Storm closes three ports along the coast"
    assert article.extraction is not None
    assert article.extraction.fields["headline"] == "html"


def test_masthead_h1_naming_the_site_is_not_the_headline() -> None:
    head = (
        "<meta property='og:title' content='Storm closes three ports'>"
        "<meta property='og:site_name' content='The Coast Times'>"
    )
    html = page(head).replace("<body>", "<body><header><h1>The Coast Times</h1></header>")
    article = extract_article(html, "https://coast.example/news/storm")
    assert article.headline == "Storm closes three ports"
    assert article.extraction is not None
    assert article.extraction.fields["headline"] == "meta"


def test_headline_is_not_repeated_as_the_first_paragraph() -> None:
    body = "<p>Storm closes three ports</p>"
    html = page("<title>Storm closes three ports</title>", body)
    article = extract_article(html, "https://coast.example/news/storm")
    assert not article.body.startswith("Storm closes three ports")


# ---- authors and credits ----


@pytest.mark.parametrize(
    ("byline", "names", "organisation"),
    [
        ("By Jane Doe", ["Jane Doe"], None),
        ("By JANE DOE and JOHN SMITH Associated Press", ["Jane Doe", "John Smith"], "AP"),
        ("By JANE DOE and JOHN SMITH, Associated Press", ["Jane Doe", "John Smith"], "AP"),
        ("Tom Krisher, AP Auto Writer", ["Tom Krisher"], "AP"),
        ("Written by Rachael Link, MS, RD on November 14, 2019", ["Rachael Link"], None),
        (
            "By Matthew Digby, Minh Do on Monday, November 18th, 2019",
            ["Matthew Digby", "Minh Do"],
            None,
        ),
        ("By Sandee LaMotte, CNN", ["Sandee LaMotte"], "CNN"),
        ("By Staff Reports", [], None),
        ("Associated Press", [], "AP"),
        ("By Ludwig van Beethoven | Nov 18, 2019", ["Ludwig van Beethoven"], None),
        ("Senior Editor", [], None),
        ("@janedoe", [], None),
    ],
)
def test_bylines_split_into_people_and_organisations(
    byline: str, names: list[str], organisation: str | None
) -> None:
    assert split_byline(byline) == (names, organisation)


def test_byline_names_the_authors_and_credits_the_wire() -> None:
    body = '<div class="byline">By <a rel="author">Jane Doe</a> and John Smith, Reuters</div>'
    article = extract_article(page(body=body), "https://coast.example/news/storm")
    assert article.authors == ["Jane Doe", "John Smith"]
    assert article.source == "Reuters"
    assert article.extraction is not None
    assert article.extraction.fields["authors"] == "byline"
    assert article.extraction.fields["source"] == "byline"


def test_visible_byline_beats_metadata_author() -> None:
    head = ld('{"@type": "NewsArticle", "author": {"@type": "Person", "name": "Meta Person"}}')
    body = '<p class="byline">By Jane Doe and Meta Person</p>'
    article = extract_article(page(head, body), "https://coast.example/news/storm")
    assert article.authors == ["Jane Doe", "Meta Person"]


def test_plain_by_line_after_the_headline() -> None:
    body = "<h1>Storm closes three ports</h1><div>By Jane Doe on Monday</div>"
    article = extract_article(page(body=body), "https://coast.example/news/storm")
    assert article.authors == ["Jane Doe"]


# ---- sources in the text ----


def test_wire_dateline_sets_the_source() -> None:
    first = f"LONDON (Reuters) - {TEXT[0]}"
    article = extract_article(page(paragraphs=(first, *TEXT[1:])), "https://coast.example/a-b")
    assert article.source == "Reuters"
    assert article.extraction is not None
    assert article.extraction.fields["source"] == "body-text"


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("WASHINGTON (AP) — The Senate voted", "AP"),
        ("SANTA FE, N.M. (AP) — A cat", "AP"),
        ("LONDON, Nov 19 (Reuters) - Shares fell", "Reuters"),
        ("Investors cited (Reuters) data in the text", None),
        ("An AP report said (something)", None),
    ],
)
def test_datelines(text: str, wire: str | None) -> None:
    assert dateline_wire(text) == wire


@pytest.mark.parametrize(
    ("line", "wire"),
    [
        ("— Reuters", "Reuters"),
        ("(AFP)", "AFP"),
        ("Reporting by Jane Doe; Editing by John Smith", "Reuters"),
        ("Reporting by Jane Doe", None),
        ("He spoke to Reuters.", None),
    ],
)
def test_closing_credits(line: str, wire: str | None) -> None:
    assert closing_credit_wire(line) == wire


def test_seed_lines_set_source_and_related_links() -> None:
    paragraphs = (
        *TEXT,
        "Source: Reuters",
        'Also read: <a href="/news/2019/11/17/earlier-storm-damage">Earlier storm damage</a>',
        "Read more: Flood warnings https://other.example/news/flood-warnings",
    )
    article = extract_article(page(paragraphs=paragraphs), "https://coast.example/news/storm")
    assert article.source == "Reuters"
    assert "Source:" not in article.body
    assert "Also read" not in article.body
    assert "Read more" not in article.body
    assert article.related_links[:2] == [
        RelatedLink(
            title="Earlier storm damage",
            url="https://coast.example/news/2019/11/17/earlier-storm-damage",
        ),
        RelatedLink(title="Flood warnings", url="https://other.example/news/flood-warnings"),
    ]
    assert article.extraction is not None
    assert article.extraction.fields["source"] == "seed-line"
    assert article.extraction.fields["related_links"] == "seed-line"


def test_json_ld_article_body_when_the_page_shows_only_a_teaser() -> None:
    full = " ".join(TEXT * 3).replace('"', "'")
    head = ld(f'{{"@type": "NewsArticle", "articleBody": "<p>{full}</p><p>The end.</p>"}}')
    html = page(head, paragraphs=("Subscribe to read the rest of this story.",))
    article = extract_article(html, "https://coast.example/news/storm")
    assert article.body == f"{full}\n\nThe end."
    assert article.extraction is not None
    assert article.extraction.fields["body"] == "json-ld"


def test_advertisement_and_newsletter_lines_are_dropped() -> None:
    paragraphs = (TEXT[0], "Advertisement", TEXT[1], TEXT[2], "Sign up for our daily newsletter")
    article = extract_article(page(paragraphs=paragraphs), "https://coast.example/news/storm")
    assert article.body.split("\n\n") == list(TEXT)


# ---- related links ----


def test_related_links_in_and_after_the_body_but_not_navigation() -> None:
    html = (
        "<html><head><title>Storm</title></head><body>"
        '<nav><a href="/news/other-big-story-today">Other big story of the day</a></nav>'
        "<header><a href='/news/header-story-link'>A story linked in the header</a></header>"
        "<article>"
        f"<p>{TEXT[0]} <a href='/news/2019/11/17/first-storm-of-the-season'>"
        "the first storm of the season</a> was milder.</p>"
        f"<p>{TEXT[1]}</p><p>{TEXT[2]}</p></article>"
        "<div class='more'><h2>More on this story</h2><ul>"
        "<li><a href='https://coast.example/news/ports-reopen-after-storm'>Ports reopen after "
        "the storm</a></li><li><a href='../weather/how-storms-form-123'>How coastal storms "
        "form</a></li><li><a href='/news/ports-reopen-after-storm#top'>Ports reopen after "
        "the storm</a></li></ul></div>"
        "<footer><a href='/about/company-history-page'>Our company history page</a></footer>"
        "</body></html>"
    )
    article = extract_article(html, "https://coast.example/news/2019/11/18/storm")
    assert article.related_links == [
        RelatedLink(
            title="the first storm of the season",
            url="https://coast.example/news/2019/11/17/first-storm-of-the-season",
        ),
        RelatedLink(
            title="Ports reopen after the storm",
            url="https://coast.example/news/ports-reopen-after-storm",
        ),
        RelatedLink(
            title="How coastal storms form",
            url="https://coast.example/news/2019/11/weather/how-storms-form-123",
        ),
    ]
    assert article.extraction is not None
    assert article.extraction.fields["related_links"] == "html"


# ---- dates ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2019-11-18T20:58:46-08:00",
            datetime(2019, 11, 18, 20, 58, 46, tzinfo=timezone(timedelta(hours=-8))),
        ),
        ("2019-11-19T04:58:46Z", datetime(2019, 11, 19, 4, 58, 46, tzinfo=UTC)),
        ("2019-11-19T04:58:46+0000", datetime(2019, 11, 19, 4, 58, 46, tzinfo=UTC)),
        ("2019-11-18", datetime(2019, 11, 18, tzinfo=UTC)),
        ("2019-11-18 20:58:46", datetime(2019, 11, 18, 20, 58, 46, tzinfo=UTC)),
        ("Tue, 19 Nov 2019 04:58:46 GMT", datetime(2019, 11, 19, 4, 58, 46, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("next Tuesday", None),
        ("", None),
    ],
)
def test_parse_datetime(text: str, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


def test_dates_are_stored_in_utc_with_the_declared_offset_kept_aside() -> None:
    head = (
        '<meta property="article:published_time" content="2019-11-18T20:58:46-08:00">'
        '<meta property="article:modified_time" content="2019-11-19T09:00:00+01:00">'
    )
    result = extract_page(page(head), "https://coast.example/news/storm")
    assert result.article.published_at == datetime(2019, 11, 19, 4, 58, 46, tzinfo=UTC)
    assert result.article.modified_at == datetime(2019, 11, 19, 8, tzinfo=UTC)
    assert result.published_declared is not None
    assert result.published_declared.date().isoformat() == "2019-11-18"


def test_utc_time_takes_the_offset_of_a_local_time_of_the_same_instant() -> None:
    head = ld('{"@type": "NewsArticle", "datePublished": "2019-11-19T04:58:46Z"}')
    head += '<meta name="sailthru.date" content="2019-11-18 20:58:46">'
    result = extract_page(page(head), "https://coast.example/news/storm")
    assert result.article.published_at == datetime(2019, 11, 19, 4, 58, 46, tzinfo=UTC)
    assert result.published_declared is not None
    assert result.published_declared.utcoffset() == timedelta(hours=-8)


def test_date_from_url_and_time_element() -> None:
    article = extract_article(page(), "https://coast.example/2019/11/18/storm-closes-ports")
    assert article.published_at == datetime(2019, 11, 18, tzinfo=UTC)
    assert article.extraction is not None
    assert article.extraction.fields["published_at"] == "url-pattern"
    body = '<time datetime="2019-11-18T09:30:00+02:00">18 November</time>'
    article = extract_article(page(body=body), "https://coast.example/news/storm")
    assert article.published_at == datetime(2019, 11, 18, 7, 30, tzinfo=UTC)
    assert article.extraction is not None
    assert article.extraction.fields["published_at"] == "html"


# ---- the other fields ----


def test_page_level_fields_and_their_provenance() -> None:
    head = (
        '<link rel="canonical" href="/news/storm-closes-ports">'
        '<meta name="description" content="Three ports shut as the storm hits">'
        '<meta property="og:image" content="/img/storm.jpg">'
        '<meta property="article:tag" content="Weather">'
        '<meta property="article:tag" content="Ports">'
        '<meta name="keywords" content="ignored, because, article:tag, wins">'
    )
    html = page(head).replace("<html>", '<html lang="pt-BR">')
    article = extract_article(html, "https://coast.example/news/storm-closes-ports?utm=x")
    assert article.canonical_url == "https://coast.example/news/storm-closes-ports"
    assert article.description == "Three ports shut as the storm hits"
    assert article.top_image == "https://coast.example/img/storm.jpg"
    assert article.tags == ["Weather", "Ports"]
    assert article.language == "pt-br"
    assert article.source == "coast.example"
    assert article.extraction is not None
    assert article.extraction.fields == {
        "headline": "trafilatura",
        "body": "trafilatura",
        "source": "domain",
        "canonical_url": "html",
        "language": "html",
        "description": "meta",
        "top_image": "meta",
        "tags": "meta",
        "url": "caller",
    }


def test_charset_argument_decodes_bytes() -> None:
    html = page("<title>Café owners count the cost</title>").replace("utf-8", "windows-1252")
    article = extract_article(html.encode("cp1252"), charset="windows-1252")
    assert article.headline == "Café owners count the cost"


def test_body_is_normalized() -> None:
    paragraphs = ("Cafe\u0301 owners\u200b  count   the cost of the storm " * 4, *TEXT[1:])
    article = extract_article(page(paragraphs=paragraphs), "https://coast.example/news/storm")
    assert article.body.startswith("Café owners count the cost of the storm Café")
    assert "\u200b" not in article.body
    assert "  " not in article.body


# ---- failures ----


@pytest.mark.parametrize(
    "html",
    [
        b"",
        "   ",
        b"\x00\x01\x02\xff\xfe binary",
        "<html><head><title>Nothing here</title></head><body></body></html>",
        "<html><body><nav><a href='/a'>Home</a><a href='/b'>World</a></nav></body></html>",
    ],
)
def test_pages_without_a_body_are_unprocessable(html: bytes | str) -> None:
    with pytest.raises(Unprocessable, match="no article body found on the page"):
        extract_article(html, "https://coast.example/news/storm")


def test_hostile_pages_give_the_article_or_a_clean_refusal() -> None:
    # Hostile extras around a real article: the article's text comes through, the junk not.
    huge_attribute = page(f"<meta name='description' content='{'x' * 2_000_000}'>")
    bad_json = page(ld('{"@type": "NewsArticle", "headline": ') + ld("[[[[" * 5000))
    for html in (huge_attribute, bad_json):
        article = extract_article(html, "https://coast.example/news/storm")
        assert article.body == "\n\n".join(TEXT)
        assert article.description is None  # 2 MB of "x" is no description
    # No article at all (20,000 nested divs; a page cut off before its text): the caller's
    # 422 with the usual reason, not a crash or a stack overflow.
    nested = "<div>" * 20_000 + "deep" + "</div>" * 20_000
    truncated = gzip.decompress((PAGES / f"{GOLDEN[0].values[0]}.html.gz").read_bytes())[:30_000]
    for html in (nested, truncated):
        with pytest.raises(Unprocessable, match="no article body found on the page"):
            extract_article(html, "https://coast.example/news/storm")


_TAGS = st.sampled_from(["div", "p", "a", "h1", "article", "span", "script", "time", "meta", "nav"])
_FRAGMENTS = st.one_of(
    st.text(max_size=80),
    st.builds(lambda tag: f"<{tag}>", _TAGS),
    st.builds(lambda tag: f"</{tag}>", _TAGS),
    st.builds(
        lambda tag, v: f'<{tag} href="{v}" datetime="{v}" class="{v}">', _TAGS, st.text(max_size=30)
    ),
    st.sampled_from(["<html>", "<body>", '<script type="application/ld+json">', "<!--", "]]>"]),
)


_ARTICLE = page(ld('{"@type": "NewsArticle", "headline": "Storm", "datePublished": "2019"}'))
# A real article page, cut short and with fragments spliced in: the parser sees near-valid HTML.
_MANGLED = st.builds(
    lambda cut, spliced: "".join(spliced[:1]) + _ARTICLE[:cut] + "".join(spliced[1:]),
    st.integers(0, len(_ARTICLE)),
    st.lists(_FRAGMENTS, max_size=10),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    html=st.one_of(
        st.binary(max_size=3000),
        st.text(max_size=3000),
        st.lists(_FRAGMENTS, max_size=120).map("".join),
        _MANGLED,
    ),
    url=st.one_of(st.none(), st.text(max_size=60), st.just("https://coast.example/2019/11/18/x")),
    charset=st.one_of(st.none(), st.sampled_from(["utf-8", "latin-1", "no-such-charset"])),
)
def test_never_raises_anything_but_unprocessable(
    html: bytes | str, url: str | None, charset: str | None
) -> None:
    try:
        article = extract_article(html, url, charset=charset)
    except Unprocessable:
        return
    assert article.headline
    assert article.body
