"""Coverage-guided fuzzing of the pure parsers with atheris (libFuzzer).

    python fuzz/fuzz_parsers.py -max_total_time=60 [corpus_dir ...]

The first byte picks the parser; the rest is its input. A crash is any exception other than
the parser's own error (Unprocessable, InvalidInput); libFuzzer's -timeout catches hangs.
tests/test_fuzz_parsers.py runs a short bounded session in CI.
"""

import contextlib
import sys

import atheris

with atheris.instrument_imports(include=["app"]):
    from app.errors import InvalidInput, Unprocessable
    from app.parsing.html import extract_article
    from app.parsing.seed_text import parse_seed_text
    from app.parsing.urls import normalize_url, url_domain
    from app.search.engines import to_fts5, to_tsquery
    from app.search.query import parse_query
    from app.text import normalize

CHARSETS = [None, "utf-8", "latin-1", "utf-16", "cp1252", "bogus"]


def seed_text(data: atheris.FuzzedDataProvider) -> None:
    article = parse_seed_text(data.ConsumeUnicode(data.remaining_bytes()))
    assert article.headline
    assert article.body
    article.content_hash  # noqa: B018 (encodes: fails on text that is not Unicode)


def html(data: atheris.FuzzedDataProvider) -> None:
    charset = CHARSETS[data.ConsumeIntInRange(0, len(CHARSETS) - 1)]
    url = data.ConsumeUnicode(data.ConsumeIntInRange(0, 80)) if data.ConsumeBool() else None
    page = data.ConsumeBytes(data.remaining_bytes())
    document = page if charset else page.decode("utf-8", "replace")
    article = extract_article(document, url, charset=charset)
    assert article.headline
    assert article.body


def query(data: atheris.FuzzedDataProvider) -> None:
    terms = parse_query(data.ConsumeUnicode(data.remaining_bytes()))
    to_fts5(terms)
    to_tsquery(terms)


def url(data: atheris.FuzzedDataProvider) -> None:
    text = data.ConsumeUnicode(data.remaining_bytes())
    key = normalize_url(text)
    assert key is None or key.startswith("https://")
    url_domain(text)


def hygiene(data: atheris.FuzzedDataProvider) -> None:
    text = data.ConsumeUnicode(data.remaining_bytes())
    body = normalize.normalize_body(text)
    assert normalize.normalize_body(body) == body
    normalize.content_hash(normalize.clean_line(text), body)


TARGETS = [seed_text, html, query, url, hygiene]


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    target = TARGETS[data.ConsumeIntInRange(0, len(TARGETS) - 1)]
    with contextlib.suppress(Unprocessable, InvalidInput):
        target(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
