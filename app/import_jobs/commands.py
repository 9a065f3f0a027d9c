"""`python -m app jobs`: list, show and cancel background imports (every caller's: the
command line has the database, so it sees what an admin key sees)."""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from app.config import get_settings
from app.db import make_engine, make_sessionmaker, session_scope, writer
from app.errors import AppError
from app.import_jobs.control import cancel_import, describe_jobs
from app.job_schemas import JobRead
from app.jobs.defer import Deferrer
from app.jobs.engine import make_connector, make_deferrer
from app.repositories.import_jobs import SHOWN, ImportJobRepository

PAGE = 500


@contextmanager
def _write_session() -> Iterator[tuple[Session, Deferrer]]:
    """One transaction, committed when the command succeeds."""
    settings = get_settings()
    engine = make_engine(settings)
    try:
        deferrer = make_deferrer(settings, make_connector(settings, engine))
        with session_scope(make_sessionmaker(writer(engine))) as session:
            yield session, deferrer
    finally:
        engine.dispose()


def _echo(session: Session, jobs: list[object]) -> None:
    for job in describe_jobs(session, jobs):  # type: ignore[arg-type]
        click.echo(JobRead.model_validate(job).model_dump_json())


@click.group("jobs")
def jobs_command() -> None:
    """Background imports (POST /v1/imports with Prefer: respond-async)."""


@jobs_command.command("list")
@click.option("--status", type=click.Choice(SHOWN), default=None, help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many.")
def list_jobs(status: str | None, limit: int | None) -> None:
    """One JSON object per job, newest first: status, counts so far, timestamps."""
    with _write_session() as (session, _):
        repo, before, left = ImportJobRepository(session), None, limit
        while left is None or left > 0:
            size = PAGE if left is None else min(PAGE, left)
            page = repo.list_page(owner=None, status=status, before_id=before, limit=size)
            _echo(session, list(page.items))
            if not page.has_more or not page.items:
                return
            before = page.items[-1].id
            left = None if left is None else left - len(page.items)


@jobs_command.command("show")
@click.argument("job_id", type=click.IntRange(1))
@click.option("--results", is_flag=True, help="Then each item's result, one JSON line each.")
def show_job(job_id: int, results: bool) -> None:
    """Job JOB_ID as GET /v1/jobs/ID shows it (--results: its results so far)."""
    with _write_session() as (session, _):
        repo = ImportJobRepository(session)
        job = repo.get(job_id, None)
        if job is None:
            raise click.ClickException(f"no job with id {job_id}")
        _echo(session, [job])
        start = 0
        while results:
            rows = repo.results(job_id, start, PAGE)
            for r in rows:
                line = {"index": r.position, "status": r.status, "id": r.article_id}
                click.echo(
                    json.dumps(
                        {k: v for k, v in (line | {"error": r.error}).items() if v is not None}
                    )
                )
            if len(rows) < PAGE:
                return
            start = rows[-1].position + 1


@jobs_command.command("cancel")
@click.argument("job_id", type=click.IntRange(1))
def cancel_job(job_id: int) -> None:
    """Cancel what has not started of job JOB_ID; prints the job.

    Chunks already running finish."""
    try:
        with _write_session() as (session, deferrer):
            job = cancel_import(session, deferrer, job_id, None)
            _echo(session, [job])
    except AppError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
