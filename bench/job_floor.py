"""The floor under a feed entry's bookkeeping: what one background job and one stored article
cost with nothing else around them, against what the 70 % end-to-end target leaves.

`bench/feeds.py` compares articles per second end to end with the same pages through
extraction alone. At 70 % of that ceiling, everything an article needs besides extraction
(its fetch, its job taken and finished, the host's lease and turn, the store, the entry's
settlement), in the worker and in Postgres together, has `E × (1/0.7 − 1) ≈ 0.43 E` of CPU,
E being one page's extraction: with two workers on a two-core machine the ceiling keeps both
cores busy extracting, so Postgres's CPU comes out of the same budget. This script measures,
on a fresh database of the given server:

- extraction alone, ms a page: the ceiling of bench/feeds.py (`extraction_rate`, one process);
- procrastinate taking and finishing a no-op job (sync task, context passed, a queueing lock
  per job as the fetch jobs have, the workers' own settings), ms of CPU a job in this
  process and in Postgres;
- the service's store of one new article per transaction (pages of the extraction corpus
  made unique, prepared beforehand), ms of CPU an article in this process and in Postgres.

    .venv/bin/python bench/job_floor.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Postgres's CPU is read from /proc for every process of the server's user, so run it on the
machine of the server, with nothing else using that server.
"""

from __future__ import annotations

import argparse
import asyncio
import pwd
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from feedfarm import load_pages, unique_page, usable_pages
from feeds import extraction_rate
from load import fresh_postgres, process_cpu, self_cpu
from procrastinate import App, JobContext, PsycopgConnector
from sqlalchemy import text
from util import migrate

from app.config import Settings
from app.db import make_engine, make_sessionmaker, session_scope, writer
from app.ingest import Prepared, prepare, store
from app.jobs.engine import conninfo
from app.jobs.worker import worker_options
from app.schemas import ArticleIn

TARGET = 0.70


def postgres_cpu(uid: int) -> float:
    """CPU seconds of every live process of the database server's user (`uid`)."""
    return sum(cpu for pid, (_, cpu) in process_cpu().items() if _owner(pid) == uid)


def _owner(pid: int) -> int | None:
    try:
        return Path(f"/proc/{pid}").stat().st_uid
    except OSError:  # gone meanwhile
        return None


@contextmanager
def measured(uid: int, count: int, into: dict[str, float]) -> Iterator[None]:
    """CPU ms per unit of work in this process and in Postgres, and units per second."""
    cpu, pg, started = self_cpu(), postgres_cpu(uid), time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    into["own"] = (self_cpu() - cpu) * 1000 / count
    into["postgres"] = (postgres_cpu(uid) - pg) * 1000 / count
    into["rate"] = count / seconds


def server_uid() -> int:
    """The user Postgres runs as: the owner of its processes (`postgres` on Debian)."""
    try:
        return pwd.getpwnam("postgres").pw_uid
    except KeyError:
        raise SystemExit("no user postgres: run this on the database server's machine") from None


def noop(context: JobContext, n: int) -> None:
    return None


async def run_jobs(settings: Settings, count: int, concurrency: int, uid: int) -> dict[str, float]:
    job_app = App(connector=PsycopgConnector(conninfo=conninfo(settings), min_size=1))
    task = job_app.task(name="bench:noop", queue="articles", pass_context=True)(noop)
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(concurrency + 2))
    figures: dict[str, float] = {}
    async with job_app.open_async():
        for n in range(count):
            await task.configure(queueing_lock=f"url:{n}").defer_async(n=n)
        await job_app.connector.execute_query_async("ANALYZE procrastinate_jobs")
        options = {**worker_options(settings, concurrency), "wait": False}
        with measured(uid, count, figures):
            await job_app.run_worker_async(install_signal_handlers=False, **options)
    return figures


def store_articles(
    settings: Settings, pages: list[bytes], count: int, uid: int
) -> dict[str, float]:
    engine = make_engine(settings)
    write_sessions = make_sessionmaker(writer(engine))
    items = []
    for i in range(count):
        url = f"http://127.0.0.2/news/{i}.html"
        page = unique_page(pages[i * 7919 % len(pages)], url).decode("utf-8", "replace")
        item = prepare(ArticleIn(html=page, url=url), None)
        assert isinstance(item, Prepared), item
        items.append(item)
    figures: dict[str, float] = {}
    with measured(uid, count, figures):
        for item in items:
            with session_scope(write_sessions) as session:
                assert store(session, [item])[0].status == "created"
    engine.dispose()
    return figures


def line(name: str, figures: dict[str, float], unit: str) -> str:
    total = figures["own"] + figures["postgres"]
    return (
        f"{name:38s} {figures['own']:6.2f} + {figures['postgres']:5.2f} = {total:6.2f} ms "
        f"({figures['rate']:.0f} {unit}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", required=True, help="admin URL (a database is made)")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=300, help="pages extracted for E")
    parser.add_argument("--concurrency", type=int, default=8, help="the bench's WORKER_CONCURRENCY")
    args = parser.parse_args()
    uid = server_uid()
    pages = usable_pages(load_pages())
    admin, name, url = fresh_postgres(args.postgres_url)
    try:
        migrate(url)
        settings = Settings(database_url=url)
        before = 1000 / extraction_rate(args.pages, 1)
        jobs = asyncio.run(run_jobs(settings, args.jobs, args.concurrency, uid))
        stored = store_articles(settings, pages, args.articles, uid)
        after = 1000 / extraction_rate(args.pages, 1)  # the machine's speed drifts: the mean
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    extraction = (before + after) / 2
    budget = extraction * (1 / TARGET - 1)
    floor = sum(f["own"] + f["postgres"] for f in (jobs, stored))
    print(f"CPU an item: {'':25s}this process + Postgres")
    print(
        f"{'extraction alone (E, the ceiling)':38s} {extraction:6.2f} ms "
        f"({before:.2f} before, {after:.2f} after)"
    )
    print(f"{'budget at 70 %: E × (1/0.7 − 1)':38s} {budget:6.2f} ms for everything but extraction")
    print(line("a no-op job taken and finished", jobs, "jobs"))
    print(line("one new article stored", stored, "articles"))
    verdict = "within" if floor <= budget else "over"
    print(
        f"{'floor (job + store, no fetch)':38s} {floor:6.2f} ms = {floor / budget:.0%} "
        f"of the budget ({verdict})"
    )
    # Workers that keep every core busy (2 on 2 cores) share the cores with Postgres: an
    # article costs at least E + floor there, so end to end is at most E / (E + floor).
    # One worker beside an idle core pays only its own share (Postgres runs on the other).
    own = jobs["own"] + stored["own"]
    saturated, spare = extraction / (extraction + floor), extraction / (extraction + own)
    print(f"best end-to-end ratio, cores saturated: E / (E + floor) = {saturated:.0%}")
    print(f"best end-to-end ratio, one worker, a core to spare: E / (E + own) = {spare:.0%}")


if __name__ == "__main__":
    main()
