"""Export lines: JSONL (re-importable through POST /v1/imports) and CSV, one article each."""

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from pydantic_core import to_json

Format = Literal["jsonl", "csv"]
CSV_COLUMNS = [
    "id", "headline", "body", "source", "url", "canonical_url", "authors", "published_at",
    "modified_at", "language", "description", "top_image", "tags", "related_links",
    "content_hash",
]  # fmt: skip
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
# A spreadsheet reads a cell that starts with one of these as a formula (=HYPERLINK(...)
# runs when the file is opened). OWASP's "CSV Injection": prefix such cells with a quote,
# which spreadsheets take as "this is text". Page text is anyone's, so every cell gets it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """An article (a row of ArticleRepository.export_rows) as an import item: what
    POST /v1/imports needs to store it again, plus its id and content hash (checked on
    import) and provenance."""
    return {
        "id": row["id"],
        "content_hash": row["content_hash"],
        "headline": row["headline"],
        "body": row["body"],
        "source": row["source"],
        "related_links": row["related_links"],
        "url": row["url"],
        "canonical_url": row["canonical_url"],
        "authors": row["authors"],
        "published_at": _iso(row["published_at"]),
        "modified_at": _iso(row["modified_at"]),
        "language": row["language"],
        "description": row["description"],
        "top_image": row["top_image"],
        "tags": row["tags"],
        "extraction": row["extraction"],
    }


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def lines(articles: Iterable[Mapping[str, Any]], fmt: Format, batch: int = 200) -> Iterator[str]:
    """Chunks of the export document, `batch` articles at a time."""
    if fmt == "csv":
        yield _csv_rows([CSV_COLUMNS])
    chunk: list[dict[str, Any]] = []
    for article in articles:
        chunk.append(export_record(article))
        if len(chunk) >= batch:
            yield _render(chunk, fmt)
            chunk = []
    if chunk:
        yield _render(chunk, fmt)


def _render(records: list[dict[str, Any]], fmt: Format) -> str:
    if fmt == "jsonl":
        # pydantic-core's encoder (Rust): about 3x the stdlib's on these records, UTF-8 kept
        return "".join(to_json(r).decode() + "\n" for r in records)
    return _csv_rows([_csv_row(r) for r in records])


def _csv_row(record: dict[str, Any]) -> list[Any]:
    row = dict(record)  # created_at is not part of the import item: CSV leaves it out
    row["authors"] = "; ".join(record["authors"])
    row["tags"] = "; ".join(record["tags"])
    row["related_links"] = json.dumps(record["related_links"], ensure_ascii=False)
    return [_inert(row.get(column)) for column in CSV_COLUMNS]


def _inert(cell: Any) -> Any:
    """The cell, with a leading `'` if a spreadsheet would take it for a formula."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def _csv_rows(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
