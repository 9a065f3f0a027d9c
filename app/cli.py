"""Command line: `python -m app migrate | import PATH... | export FILE | serve` (also
`news-archive ...`)."""

import argparse
import asyncio
import json
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from anyio.to_thread import run_sync
from tqdm import tqdm

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, writer
from app.exporting import Format, lines
from app.import_sources import STDIN, Sourced, collect_files, sourced_items
from app.ingest import Outcome
from app.ingest.batch import Importer, new_counts, tally
from app.ingest.resources import open_fetch_context, open_prepare_pool
from app.parsing.urls import url_domain
from app.repositories import ArticleRepository, Filters
from app.security.commands import add_keys_parser, refuse_unsafe_bind, run_keys


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


def import_paths(
    settings: Settings, paths: Sequence[Path], progress: bool = True
) -> dict[str, int]:
    """Import files (or stdin) through the batch pipeline the API uses: one transaction per
    IMPORT_CHUNK_SIZE items, URL items fetched. Each failed item is reported on stderr as
    `where: error`; returns the counts."""
    engine = make_engine(settings)
    counts = new_counts()
    whence: deque[str] = deque()  # where the items in flight came from, oldest first

    async def report(start: int, outcomes: list[Outcome]) -> None:
        tally(counts, outcomes)
        for outcome in outcomes:
            where = whence.popleft()
            if outcome.error:
                tqdm.write(f"{where}: {outcome.error}", file=sys.stderr)
        bar.update(len(outcomes))

    try:
        with (
            open_fetch_context(settings, make_sessionmaker(engine)) as context,
            open_prepare_pool(settings) as pool,
            tqdm(desc="importing", unit=" articles", disable=not progress) as bar,
        ):
            importer = Importer(
                make_sessionmaker(writer(engine)), context, pool, settings.import_chunk_size
            )
            sources = sourced_items(collect_files(paths))
            asyncio.run(importer.run(_fed(sources, whence, settings.import_chunk_size), report))
    finally:
        engine.dispose()
    return counts


async def _fed(sources: Iterator[Sourced], whence: deque[str], block: int) -> AsyncIterator[Any]:
    """The items, read a block at a time in a thread (stdin may be slow to come), each one's
    origin noted for `report`."""
    while batch := await run_sync(lambda: list(islice(sources, block))):
        for where, item in batch:
            whence.append(where)
            yield item


def export(settings: Settings, out: Path, fmt: Format, filters: Filters, progress: bool) -> int:
    """Write the (filtered) archive to a file (`-`: stdout), streamed, with a progress bar;
    returns the count."""
    engine = make_engine(settings)
    written = [0]
    with make_sessionmaker(engine)() as session, _opened(out) as handle:
        repo = ArticleRepository(session)
        total = repo.count(filters)
        with tqdm(total=total, desc="exporting", unit=" articles", disable=not progress) as bar:
            for chunk in lines(_counted(repo.export_rows(filters), bar, written), fmt):
                handle.write(chunk)
    engine.dispose()
    return written[0]


@contextmanager
def _opened(out: Path) -> Iterator[TextIO]:
    if str(out) == STDIN:
        yield sys.stdout
        sys.stdout.flush()
    else:
        with out.open("w", encoding="utf-8", newline="") as handle:
            yield handle


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


def _click_commands() -> dict[str, Any]:
    """Commands written with click (`worker`, `feeds`, `jobs`); argparse hands them their
    arguments."""
    from app.feeds.commands import feeds_command
    from app.import_jobs.commands import jobs_command
    from app.jobs.commands import worker_command

    return {"worker": worker_command, "feeds": feeds_command, "jobs": jobs_command}


def main(argv: Sequence[str] | None = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in ("worker", "feeds", "jobs"):
        command = _click_commands()[args_list[0]]
        command.main(args_list[1:], prog_name=f"news-archive {args_list[0]}")
        return
    parser = argparse.ArgumentParser(prog="news-archive", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    load = commands.add_parser(
        "import",
        help="import NDJSON (.ndjson, .jsonl), HTML (.html, .htm) and seed-text files, folders, "
        "or - for stdin; exits with 1 if any item failed",
    )
    load.add_argument("paths", nargs="+", type=Path)
    load.add_argument("--no-progress", action="store_true", help="no progress bar")
    dump = commands.add_parser(
        "export", help="export articles to a JSONL or CSV file (- for stdout)"
    )
    dump.add_argument("output", type=Path)
    dump.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    dump.add_argument("--source")
    dump.add_argument("--language")
    dump.add_argument("--domain")
    dump.add_argument("--no-progress", action="store_true", help="no progress bar")
    commands.add_parser("serve", help="migrate, then serve the API on HOST:PORT")
    add_keys_parser(commands)
    commands.add_parser("worker", help="run background jobs: feed polls, article fetches")
    commands.add_parser("feeds", help="list, add and poll feed subscriptions")
    commands.add_parser("jobs", help="list, show and cancel background imports")
    args = parser.parse_args(args_list)
    settings = get_settings()
    if args.command == "migrate":
        migrate(settings)
    elif args.command == "import":
        counts = import_paths(settings, args.paths, progress=not args.no_progress)
        print(json.dumps(counts))
        if counts["error"]:
            raise SystemExit(1)
    elif args.command == "export":
        domain = (url_domain(args.domain) or args.domain.lower()) if args.domain else None
        filters = Filters(source=args.source, language=args.language, domain=domain)
        count = export(settings, args.output, args.format, filters, not args.no_progress)
        summary = json.dumps({"exported": count, "file": str(args.output)})
        print(summary, file=sys.stderr if str(args.output) == STDIN else sys.stdout)
    elif args.command == "keys":
        run_keys(settings, args)
    elif args.command == "serve":
        migrate(settings)
        refuse_unsafe_bind(settings)  # no key and not loopback: exit before binding
        serve(settings)
