"""What `python -m app import` reads: the files named (folders searched), or `-` for stdin,
as raw import items, each with where it came from (`path` for a whole file, `path:line` for
an NDJSON line) so that an error can name it.

    .ndjson / .jsonl      one item a line (blank lines skipped, still counted)
    .html / .htm          one HTML page (so is any file that sniffs as HTML)
    anything else         one article in the seed-text format
    -                     stdin: NDJSON if it starts with `{`, else HTML or seed text

NDJSON lines stay bytes: the import pipeline decodes them (`app.ingest.batch`), exactly as it
decodes the lines of an HTTP import.
"""

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from app.errors import InvalidInput
from app.fetching.response_bytes import looks_like_html

JSON_LINES_SUFFIXES = frozenset({".ndjson", ".jsonl"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
FOLDER_SUFFIXES = JSON_LINES_SUFFIXES | HTML_SUFFIXES | {".txt"}
STDIN = "-"
_SNIFF = 1024  # bytes of stdin read to tell NDJSON, HTML and text apart

Sourced = tuple[str, Any]  # (where, raw item)


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """The importable files among `paths`, folders searched recursively, in a stable order;
    `-` (stdin) is kept where it was given."""
    files: list[Path] = []
    for path in paths:
        if str(path) == STDIN:
            files.append(path)
        elif path.is_dir():
            found = (p for p in path.rglob("*") if p.suffix.lower() in FOLDER_SUFFIXES)
            files += sorted(p for p in found if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise SystemExit(f"no such file or folder: {path}")
    return files


def sourced_items(files: Iterable[Path]) -> Iterator[Sourced]:
    """Every item of every file, in order, with where it came from."""
    for path in files:
        if str(path) == STDIN:
            yield from _stdin(sys.stdin.buffer)
        elif path.suffix.lower() in JSON_LINES_SUFFIXES:
            with path.open("rb") as handle:
                yield from _lines(str(path), handle)
        else:
            yield str(path), document(path.read_bytes(), path.suffix.lower() in HTML_SUFFIXES)


def document(data: bytes, html: bool) -> Any:
    """One whole-file article: HTML when named or sniffed so, else seed text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return InvalidInput(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    return {"html": text} if html or looks_like_html(data) else {"text": text}


def _lines(name: str, lines: Iterable[bytes], first: int = 1) -> Iterator[Sourced]:
    for number, line in enumerate(lines, first):
        if line.strip():
            yield f"{name}:{number}", line


def _stdin(stream: IO[bytes]) -> Iterator[Sourced]:
    head = stream.read(_SNIFF)
    if not head.lstrip().startswith(b"{"):
        yield STDIN, document(head + stream.read(), html=False)
        return
    # The sniffed bytes end inside a line at most: readline() completes it.
    first = (head + stream.readline()).split(b"\n")
    if not first[-1]:
        first.pop()  # the newline ended a line; it did not start one
    yield from _lines(STDIN, first)
    yield from _lines(STDIN, stream, first=len(first) + 1)
