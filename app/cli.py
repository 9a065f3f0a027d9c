"""The command line, `news-archive` (also `python -m app`): click commands over the same
ingest, export and server code the API uses.

A command group defined in another module (`app.security.commands.keys`, say) joins with
one `cli.add_command(...)` line at the end of this file; `news-archive --help` then lists it.
"""

import asyncio
import json
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import click
from anyio.to_thread import run_sync
from tqdm import tqdm

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, writer
from app.exporting import Format, lines
from app.feeds.commands import feeds_command
from app.import_jobs.commands import jobs_command
from app.import_sources import STDIN, Sourced, collect_files, sourced_items
from app.ingest import Outcome
from app.ingest.batch import Importer, new_counts, tally
from app.ingest.resources import open_fetch_context, open_prepare_pool
from app.jobs.commands import worker_command
from app.parsing.urls import url_domain
from app.repositories import ArticleRepository, Filters
from app.security.commands import keys, refuse_unsafe_bind

NO_PROGRESS = click.option("--no-progress", is_flag=True, help="Show no progress bar.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """The news archive: text, HTML and URLs in, normalized articles out.

    Settings come from environment variables or a .env file (DATABASE_URL, HOST, PORT, ...;
    the README lists them all). Each command's --help tells more.
    """


@cli.command("migrate")
def migrate_command() -> None:
    """Bring DATABASE_URL's schema to the latest migration."""
    migrate(get_settings())


@cli.command("import", short_help="Import files, folders or stdin; exit 1 if any item failed.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@NO_PROGRESS
def import_command(paths: tuple[Path, ...], no_progress: bool) -> None:
    """Import PATHS: NDJSON (.ndjson, .jsonl: one item a line), HTML (.html, .htm, or
    anything that sniffs as HTML) and seed-text files, folders (searched recursively), or -
    for stdin. URL items are fetched, as the API does.

    Each failed item goes to stderr as `path:line: error`, then the counts to stdout as JSON;
    the exit status is 1 if any item failed.
    """
    counts = import_paths(get_settings(), paths, progress=not no_progress)
    click.echo(json.dumps(counts))
    if counts["error"]:
        raise SystemExit(1)


@cli.command("export", short_help="Export the archive to a JSONL or CSV file (- for stdout).")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="jsonl: import items, one a line; csv: for spreadsheets.",
)
@click.option("--source", help="Only articles credited to this source, e.g. Reuters.")
@click.option("--language", help="Only articles in this language, e.g. en.")
@click.option("--domain", help="Only articles from this site, e.g. example.com.")
@NO_PROGRESS
def export_command(
    output: Path,
    fmt: Format,
    source: str | None,
    language: str | None,
    domain: str | None,
    no_progress: bool,
) -> None:
    """Export the archive (filtered) to OUTPUT, a file, or - for stdout, streamed.

    A summary line goes to stdout, or to stderr when the articles do.
    """
    domain = (url_domain(domain) or domain.lower()) if domain else None
    filters = Filters(source=source, language=language, domain=domain)
    count = export(get_settings(), output, fmt, filters, not no_progress)
    summary = json.dumps({"exported": count, "file": str(output)})
    click.echo(summary, err=str(output) == STDIN)


@cli.command("serve", short_help="Migrate, then serve the API on HOST:PORT.")
def serve_command() -> None:
    """Migrate, then serve the API on HOST:PORT, the environment settings (default
    127.0.0.1:8000). While no API key exists, a HOST that is not loopback is refused (exit
    status 1): create a key first (`news-archive keys create`).
    """
    settings = get_settings()
    migrate(settings)
    refuse_unsafe_bind(settings)  # no key and not loopback: exit before binding
    serve(settings)


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
    files = collect_files(paths)  # a missing one exits before anything starts
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
            sources = sourced_items(files)
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


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: run the command in `argv` (default: the process's arguments)."""
    cli.main(args=list(argv) if argv is not None else None)


# Command groups defined elsewhere, one line each.
cli.add_command(keys)
cli.add_command(worker_command)
cli.add_command(feeds_command)
cli.add_command(jobs_command)
