"""The query's terms rendered for each engine: an FTS5 MATCH expression for SQLite, a
tsquery under the right text-search configurations for Postgres, and the stemmer each
engine's index used (for snippets). No user text ever reaches either engine's syntax."""

from typing import Any

from sqlalchemy import ColumnElement, func, literal_column

from app.search.query import Term

# Query configurations tried together when the language is not filtered: stemmed English
# (the archive's main language) or exact words in any other language.
_PG_CONFIGS = ("english", "simple")
# The same table as the migration that builds search_vector (migrations never import app
# code, so it is written out twice): language code -> stemming configuration.
PG_LANGUAGES = {
    "ar": "arabic", "da": "danish", "de": "german", "en": "english", "es": "spanish",
    "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian", "it": "italian",
    "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sv": "swedish", "tr": "turkish",
}  # fmt: skip


def to_fts5(terms: list[Term]) -> str:
    """An FTS5 MATCH expression: every word quoted, so it is never FTS5 syntax."""
    positive = " AND ".join(_fts5(t) for t in terms if not t.negated)
    negative = "".join(f" NOT {_fts5(t)}" for t in terms if t.negated)
    return positive + negative


def _fts5(term: Term) -> str:
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")


def to_tsquery(terms: list[Term]) -> str:
    """A to_tsquery() string: quoted lexemes, <-> for phrases, :* for prefixes, ! for NOT."""
    return " & ".join(_tsquery(t) for t in terms)


def _tsquery(term: Term) -> str:
    body = " <-> ".join(f"'{w}'" for w in term.words)
    if len(term.words) > 1:
        body = f"({body})"
    return ("!" if term.negated else "") + body + (":*" if term.prefix else "")


def _pg_configs(language: str | None) -> tuple[str, ...]:
    if language is None:
        return _PG_CONFIGS
    return (PG_LANGUAGES.get(language.split("-")[0].lower(), "simple"),)


def _regconfig(name: str) -> ColumnElement[Any]:
    return literal_column(f"'{name}'::regconfig")  # names come from the fixed table above


def pg_tsquery(terms: list[Term], language: str | None) -> ColumnElement[Any]:
    """The query under every configuration the matching vectors may have used, ORed."""
    query_text = to_tsquery(terms)
    configs = _pg_configs(language)
    tsquery: ColumnElement[Any] = func.to_tsquery(_regconfig(configs[0]), query_text)
    for config in configs[1:]:
        tsquery = tsquery.op("||")(func.to_tsquery(_regconfig(config), query_text))
    return tsquery


def stemming(postgres: bool, language: str | None) -> str | None:
    """The Snowball algorithm the engine's index stems with (for snippets), or None."""
    if not postgres:
        return "porter"  # the FTS5 tokenizer: porter unicode61
    config = _pg_configs(language)[0]
    return None if config == "simple" else config
