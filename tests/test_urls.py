"""URL identity: the documented rules, case by case, and properties (hypothesis)."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.provisional import urls

from app.parsing.urls import TRACKING, normalize_url, url_domain

CANONICAL = "https://example.com/news/story"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/news/story",
        "http://example.com/news/story",
        "HTTPS://EXAMPLE.COM/news/story",
        "https://www.example.com/news/story",
        "https://m.example.com/news/story",
        "https://amp.example.com/news/story",
        "https://www.m.example.com/news/story",
        "https://example.com./news/story",
        "http://example.com:80/news/story",
        "https://example.com:443/news/story",
        "https://user:secret@example.com/news/story",
        "https://example.com/news/story#comments",
        "https://example.com/news/story/",
        "https://example.com//news///story//",
        "https://example.com/news/./story",
        "https://example.com/news/x/../story",
        "https://example.com/%6Eews/st%6Fry",
        "https://example.com/news/story?",
        "https://example.com/news/story?&&",
        "  https://example.com/news/story\n",
        "https://example.com/news/\tstory",
        "https://example.com/news/story;jsessionid=0A1B2C",
        # AMP variants
        "https://example.com/news/story/amp",
        "https://example.com/news/story/amp/",
        "https://example.com/amp/news/story",
        "https://example.com/news/story?amp=1",
        "https://example.com/news/story?amp",
        "https://example.com/news/story?outputType=amp",
        "https://amp.example.com/amp/news/story/amp/?amp=true",
        "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story/amp",
        "https://www.google.com/amp/s/www.example.com/news/story/amp",
        "https://www.google.co.uk/amp/s/example.com/news/story",
        # tracking parameters
        "https://example.com/news/story?utm_source=twitter&utm_medium=social",
        "https://example.com/news/story?UTM_Campaign=x",
        "https://example.com/news/story?fbclid=IwAR0abc",
        "https://example.com/news/story?gclid=1&dclid=2&msclkid=3&yclid=4",
        "https://example.com/news/story?mc_cid=a&mc_eid=b",
        "https://example.com/news/story?igshid=x&ref=tw&ref_src=twsrc",
        "https://example.com/news/story?cmpid=rss&ocid=msn&_ga=1.2.3&spm=a.b",
        "https://example.com/news/story?sr_share=twitter&smid=tw-share&CMP=share_btn",
        "https://example.com/news/story?pk_campaign=x&mtm_source=y&_hsenc=z",
        "https://example.com/news/story?utm%5Fsource=escaped",
    ],
)
def test_variants_fold_to_one_canonical_url(url: str) -> None:
    assert normalize_url(url) == CANONICAL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com", "https://example.com/"),
        ("https://example.com/?utm_source=x", "https://example.com/"),
        ("https://example.com/amp/", "https://example.com/"),
        ("https://example.com/a?b=2&a=1&c", "https://example.com/a?a=1&b=2&c"),
        ("https://example.com/a?b=2&a=3&a=1", "https://example.com/a?a=1&a=3&b=2"),
        ("https://example.com/a?id=7&utm_source=x", "https://example.com/a?id=7"),
        (
            "https://example.com/a?source=rss&session=2",
            "https://example.com/a?session=2&source=rss",
        ),
        ("https://example.com/a?reference=1&cid=2", "https://example.com/a?cid=2&reference=1"),
        ("https://example.com/a?amp=0", "https://example.com/a?amp=0"),
        ("https://example.com:8080/a", "https://example.com:8080/a"),
        ("http://example.com:443/a", "https://example.com/a"),
        ("https://Bücher.example/Straße", "https://xn--bcher-kva.example/Stra%C3%9Fe"),
        ("https://xn--bcher-kva.example/a", "https://xn--bcher-kva.example/a"),
        ("https://example.com/a%7eb%2fc%2Fd", "https://example.com/a~b%2Fc%2Fd"),
        ("https://example.com/a%zz/100%", "https://example.com/a%25zz/100%25"),
        ("https://example.com/a b?q=a b&r=ü", "https://example.com/a%20b?q=a%20b&r=%C3%BC"),
        ("https://example.com/Path/Case", "https://example.com/Path/Case"),
        ("https://example.com/story.amp", "https://example.com/story.html"),
        ("https://example.com/story.amp.html", "https://example.com/story.html"),
        ("https://example.com/amp/x.amp.html?amp=1", "https://example.com/x.html"),
        ("https://example.com/a/../../b", "https://example.com/b"),
        ("https://www.com/a", "https://www.com/a"),
        ("https://m.co/a", "https://m.co/a"),
        ("https://news.example.com/a", "https://news.example.com/a"),
        ("https://www.news.example.com/a", "https://news.example.com/a"),
        ("https://blog_1.example.com/a", "https://blog_1.example.com/a"),
        ("http://192.168.0.1:8000/a", "https://192.168.0.1:8000/a"),
        ("http://[::FFFF:1.2.3.4]/a", "https://[::ffff:102:304]/a"),
        ("http://[2001:DB8::1]:80/a", "https://[2001:db8::1]/a"),
        ("https://x.cdn.ampproject.org/c/example.com/a?x=1", "https://example.com/a?x=1"),
        ("https://example.com/news/story#!/frag", "https://example.com/news/story"),
    ],
)
def test_normalized_form(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "not a url",
        "example.com/news/story",
        "//example.com/news/story",
        "ftp://example.com/file",
        "mailto:editor@example.com",
        "javascript:alert(1)",
        "data:text/html,hello",
        "file:///etc/passwd",
        "http://",
        "http:///path",
        "https://exa mple.com/",
        "https://a..b/",
        "http://[::1/",
        "http://[not-ip]/",
        "http://example.com:99999/",
        "http://example.com:port/",
        "https://example.com%00/",
    ],
)
def test_not_an_http_url_is_none(url: str) -> None:
    assert normalize_url(url) is None


def test_different_articles_stay_different() -> None:
    urls = [
        "https://example.com/news/story",
        "https://example.com/news/story-2",
        "https://example.com/news/Story",
        "https://example.com/news/story?id=2",
        "https://example.com/news/story?page=2",
        "https://example.com:8443/news/story",
        "https://news.example.com/news/story",
        "https://example.org/news/story",
        "https://example.com/news/story.html",
    ]
    assert len({normalize_url(u) for u in urls}) == len(urls)


def test_tracking_names_are_lower_case() -> None:
    assert all(name == name.lower() for name in TRACKING)


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.Example.COM/a", "example.com"),
        ("https://news.bbc.co.uk/sport/1", "bbc.co.uk"),
        ("https://m.example.co.uk/a", "example.co.uk"),
        ("https://edition.cnn.com/a", "cnn.com"),
        ("https://someone.github.io/post", "someone.github.io"),
        ("https://bücher.de/x", "xn--bcher-kva.de"),
        ("http://192.168.0.1:8080/a", "192.168.0.1"),
        ("http://[::1]/a", "::1"),
        ("http://localhost:8000/a", "localhost"),
        ("https://intranet.corp/a", "intranet.corp"),
        ("Example.com", "example.com"),
        ("www.example.com/news", "example.com"),
        ("news.example.com:8080", "example.com"),
        ("ftp://example.com/a", None),
        ("mailto:someone@example.com", None),
        ("not a url", None),
        ("", None),
        (None, None),
    ],
)
def test_url_domain(url: str | None, domain: str | None) -> None:
    assert url_domain(url) == domain


_PIECES = st.one_of(
    st.sampled_from(["amp", ".", "..", "", "%2e", "%7E", "%41", "%zz", "%", "x.amp", "ü", " "]),
    st.sampled_from(["y.amp.html", ";jsessionid=1", "%2F", "www", "c", "s", "%6Asessionid="]),
)
_SEGMENT = st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=3).map("".join)
_HOST = st.one_of(
    st.sampled_from(["example.com", "WWW.Example.com", "m.amp.www.ex.org", "bücher.de"]),
    st.sampled_from(["[::1]", "1.2.3.4", "x.cdn.ampproject.org", "www.google.com", "a.b."]),
    st.sampled_from(["google.co.uk", "ex%41mple.com", "%E2%82%AC.com", "[fe80::1%25eth0]"]),
    st.text(max_size=12),
)
_PAIR = st.tuples(
    st.one_of(st.sampled_from(["utm_source", "amp", "outputType", "a", "B", "ref", "%5F"])),
    st.one_of(st.sampled_from(["", "1", "amp", "AMP", "true", "%31", "x=y"]), st.text(max_size=3)),
)
_URLISH = st.builds(
    lambda scheme, host, port, path, query, fragment: (
        f"{scheme}://{host}{port}/{'/'.join(path)}?{'&'.join(f'{k}={v}' for k, v in query)}"
        f"#{fragment}"
    ),
    st.sampled_from(["http", "https", "HTTP", "ftp"]),
    _HOST,
    st.sampled_from(["", ":80", ":443", ":8080", ":x"]),
    st.lists(_SEGMENT, max_size=5),
    st.lists(_PAIR, max_size=4),
    st.text(max_size=3),
)


@given(st.one_of(st.text(), _URLISH, urls()))
@example("https://x.cdn.ampproject.org/%63/s/example.com/a")
@example("https://example.com/a;%6Asessionid=1/b")
@example("https://example.com/amp/amp/x.amp.amp")
def test_never_raises_and_is_idempotent(url: str) -> None:
    once = normalize_url(url)
    if once is not None:
        assert once.startswith("https://")
        assert "#" not in once
        assert normalize_url(once) == once
        assert url_domain(once) == url_domain(url)


@given(urls())
def test_every_http_url_has_a_canonical_form_and_a_domain(url: str) -> None:
    normalized = normalize_url(url)
    assert normalized is not None
    assert url_domain(url) is not None
