"""Command line: `python -m app migrate | import PATH... | export FILE | serve` (also
`news-archive ...`)."""

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, session_scope, writer
from app.errors import AppError
from app.exporting import Format, lines
from app.ingest import STATUSES, prepare, store
from app.parsing.urls import url_domain
from app.repositories import ArticleRepository, Filters
from app.security.commands import add_keys_parser, refuse_unsafe_bind, run_keys

TEXT_SUFFIXES = {".txt"}
JSON_LINES_SUFFIXES = {".ndjson", ".jsonl"}
BATCH = 500


def migrate(settings: Settings) -> None:
    """Bring the database schema to the latest migration."""
    from alembic import command
    from alembic.config import Config

    # A source checkout has alembic.ini beside app/; an installed package (the Docker image)
    # runs from a folder holding alembic.ini and migrations/.
    root = Path(__file__).resolve().parent.parent
    if not (root / "alembic.ini").exists():
        root = Path.cwd()
    cfg = Config(str(root / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    engine = make_engine(settings)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    engine.dispose()


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """The importable files among `paths`, folders searched recursively, in a stable order."""
    wanted = TEXT_SUFFIXES | JSON_LINES_SUFFIXES
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in wanted and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise SystemExit(f"no such file or folder: {path}")
    return files


def _items(files: list[Path]) -> Iterator[Any]:
    for path in files:
        if path.suffix in JSON_LINES_SUFFIXES:
            with path.open(encoding="utf-8") as handle:
                yield from (_json_line(line) for line in handle if line.strip())
        else:
            yield _text_item(path)


def _text_item(path: Path) -> Any:
    try:
        prepared = prepare({"text": path.read_text(encoding="utf-8")}, None)
    except UnicodeDecodeError as exc:
        return AppError(f"{path}: not UTF-8 text ({exc.reason})")
    return AppError(f"{path}: {prepared.detail}") if isinstance(prepared, AppError) else prepared


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return AppError(f"not valid JSON: {exc.msg}")


def import_paths(
    settings: Settings, paths: Sequence[Path], progress: bool = True
) -> dict[str, int]:
    """Import seed texts and NDJSON files in batches, one transaction per batch."""
    engine = make_engine(settings)
    factory = make_sessionmaker(writer(engine))
    counts = dict.fromkeys(STATUSES, 0)
    items = _items(collect_files(paths))
    with tqdm(desc="importing", unit=" articles", disable=not progress) as bar:
        while batch := list(islice(items, BATCH)):
            with session_scope(factory) as session:
                outcomes = store(session, [prepare(item, None) for item in batch])
            for outcome in outcomes:
                counts[outcome.status] += 1
                if outcome.error:
                    tqdm.write(f"error: {outcome.error}", file=sys.stderr)
            bar.update(len(batch))
    engine.dispose()
    return counts


def export(settings: Settings, out: Path, fmt: Format, filters: Filters, progress: bool) -> int:
    """Write the (filtered) archive to a file, streamed, with a progress bar; returns count."""
    engine = make_engine(settings)
    written = [0]
    with make_sessionmaker(engine)() as session, out.open("w", encoding="utf-8") as handle:
        repo = ArticleRepository(session)
        total = repo.count(filters)
        with tqdm(total=total, desc="exporting", unit=" articles", disable=not progress) as bar:
            for chunk in lines(_counted(repo.export_rows(filters), bar, written), fmt):
                handle.write(chunk)
    engine.dispose()
    return written[0]


def _counted(articles: Iterator[Any], bar: Any, written: list[int]) -> Iterator[Any]:
    for article in articles:
        bar.update(1)
        written[0] += 1
        yield article


def serve(settings: Settings) -> None:
    import uvicorn

    from app.api.server import ProblemHttpToolsProtocol

    # The app configures JSON logging itself and writes its own access line per request.
    uvicorn.run(
        "app.main:app",
        http=ProblemHttpToolsProtocol,  # problem+json (and 414/431) before the app runs too
        host=settings.host,
        port=settings.port,
        proxy_headers=False,
        log_config=None,
        access_log=False,
        # SIGTERM: stop accepting, let requests in flight finish (up to 30 s: a URL fetch
        # may take FETCH_TOTAL_TIMEOUT), then cancel what is left and shut down.
        timeout_graceful_shutdown=30,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="news-archive", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    load = commands.add_parser("import", help="import seed .txt files, .ndjson files or folders")
    load.add_argument("paths", nargs="+", type=Path)
    load.add_argument("--no-progress", action="store_true", help="no progress bar")
    dump = commands.add_parser("export", help="export articles to a JSONL or CSV file")
    dump.add_argument("output", type=Path)
    dump.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    dump.add_argument("--source")
    dump.add_argument("--language")
    dump.add_argument("--domain")
    dump.add_argument("--no-progress", action="store_true", help="no progress bar")
    commands.add_parser("serve", help="migrate, then serve the API on HOST:PORT")
    add_keys_parser(commands)
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "import":
        counts = import_paths(settings, args.paths, progress=not args.no_progress)
        print(json.dumps(counts))
    elif args.command == "export":
        domain = (url_domain(args.domain) or args.domain.lower()) if args.domain else None
        filters = Filters(source=args.source, language=args.language, domain=domain)
        count = export(settings, args.output, args.format, filters, not args.no_progress)
        print(json.dumps({"exported": count, "file": str(args.output)}))
    elif args.command == "keys":
        run_keys(settings, args)
    elif args.command == "serve":
        migrate(settings)
        refuse_unsafe_bind(settings)  # no key and not loopback: exit before binding
        serve(settings)
