"""Running a worker: as its own process (`python -m app worker`, Postgres: any number, on
any number of machines) or inside the API server (SQLite: the one process of the archive).
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

from procrastinate import App
from procrastinate.connector import BaseConnector
from sqlalchemy import Engine

from app.config import Settings
from app.db import make_engine, make_sessionmaker, writer
from app.ingest.prepare import FetchContext
from app.ingest.resources import open_fetch_context
from app.jobs.engine import is_postgres, make_connector, make_deferrer, make_job_app
from app.jobs.maintenance import keep_statistics
from app.jobs.runtime import JobRuntime
from app.jobs.stats import refresh_queue_gauges
from app.observability import configure_logging, record_fetch_failure

log = logging.getLogger(__name__)


def runs_in_server(settings: Settings) -> bool:
    """Whether the API server runs jobs itself (WORKER_IN_SERVER; default: on SQLite only)."""
    if settings.worker_in_server is not None:
        return settings.worker_in_server
    return not is_postgres(settings)


def make_runtime(
    settings: Settings, engine: Engine, connector: BaseConnector, fetch: FetchContext
) -> JobRuntime:
    return JobRuntime(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        write_sessions=make_sessionmaker(writer(engine)),
        fetch=fetch,
        deferrer=make_deferrer(settings, connector),
    )


def worker_options(settings: Settings, concurrency: int) -> dict[str, Any]:
    return {
        "concurrency": concurrency,
        "update_heartbeat_interval": settings.job_heartbeat_seconds,
        "stalled_worker_timeout": settings.job_stalled_seconds,
        "fetch_job_polling_interval": settings.job_fetch_interval,
        "abort_job_polling_interval": settings.job_fetch_interval,
        "shutdown_graceful_timeout": settings.job_shutdown_seconds,
    }


async def run_worker(
    job_app: App, work: JobRuntime, concurrency: int, *, signals: bool, name: str = "worker"
) -> None:
    """Run jobs until stopped (SIGINT/SIGTERM with `signals`, else cancellation). Sync tasks
    run on the loop's default executor: sized here so `concurrency` of them fit at once."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(concurrency + 2, thread_name_prefix="job"))
    async with queue_upkeep(job_app, work.settings):
        await job_app.run_worker_async(
            name=name,
            install_signal_handlers=signals,
            additional_context={"runtime": work},
            **worker_options(work.settings, concurrency),
        )


@asynccontextmanager
async def queue_upkeep(job_app: App, settings: Settings) -> AsyncIterator[None]:
    """Beside the worker's jobs (Postgres): the queue's statistics kept fresh each tick
    (app/jobs/maintenance.py); stopped with the block."""
    if not is_postgres(settings):
        yield
        return
    async with in_background(keep_statistics(job_app.connector, settings.job_tick_seconds)):
        yield


@asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `work` as a task for the block; cancelled and awaited when the block ends."""
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def serve_worker(settings: Settings, concurrency: int) -> None:
    """`python -m app worker`: one worker process, until SIGINT or SIGTERM."""
    configure_logging(settings.log_level, settings.log_format)
    engine = make_engine(settings)
    try:
        with open_fetch_context(settings, make_sessionmaker(engine), record_fetch_failure) as fetch:
            job_app = make_job_app(settings, engine)
            work = make_runtime(settings, engine, job_app.connector, fetch)

            async def main() -> None:
                async with job_app.open_async():
                    await run_worker(job_app, work, concurrency, signals=True)

            asyncio.run(main())
    finally:
        engine.dispose()


@asynccontextmanager
async def jobs_in_server(state: Any, settings: Settings) -> AsyncIterator[None]:
    """For the API's lifespan: `state.deferrer` (routes defer jobs); and, when
    `runs_in_server`, a worker on the server's event loop until shutdown."""
    connector = make_connector(settings, state.engine)
    work = make_runtime(settings, state.engine, connector, state.fetch_context)
    state.deferrer = work.deferrer
    state.metrics_refreshers = [partial(refresh_queue_gauges, state.engine)]
    if not runs_in_server(settings):
        yield
        return
    job_app = make_job_app(settings, state.engine, connector)
    async with (
        job_app.open_async(),
        queue_upkeep(job_app, settings),
        in_background(  # made once the app is open: shutdown cancels the worker
            job_app.run_worker_async(
                name="in-server",
                install_signal_handlers=False,  # uvicorn's, not the worker's
                additional_context={"runtime": work},
                **worker_options(settings, settings.worker_concurrency),
            )
        ),
    ):
        yield
