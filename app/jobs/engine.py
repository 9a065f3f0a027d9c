"""The job engine: procrastinate, on Postgres (many workers, many machines) or SQLite (one
process). `make_job_app(settings, engine)` builds an App with every task of
app/jobs/registry.py registered; `make_deferrer` the object that adds jobs inside a
SQLAlchemy transaction.

    Postgres  PsycopgConnector (async pool; LISTEN/NOTIFY wakes workers)
              deferring: SyncPsycopgConnector on the session's own psycopg connection
    SQLite    SQLiteConnector over the app's engine, for worker and deferring alike
"""

import random
from datetime import UTC, datetime, timedelta

from procrastinate import App, PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from procrastinate.connector import BaseConnector
from procrastinate.exceptions import JobRetry
from procrastinate.jobs import Job
from procrastinate.manager import JobManager
from procrastinate.retry import RetryDecision
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.config import Settings
from app.jobs.defer import Deferrer
from app.jobs.registry import load_tasks
from app.jobs.sqlite_connector import SQLiteConnector

MAX_RETRY_WAIT = 3600.0  # seconds; the doubling stops here


class RetryLater(Exception):
    """Raised by a task that cannot work now (its host's politeness budget is spent): the
    job runs again at `at`, without counting as a failed attempt against the retry limit."""

    def __init__(self, at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.at = at


class Backoff(RetryStrategy):
    """Exponential backoff with jitter, capped; `RetryLater` reschedules at its time."""

    def __init__(self, attempts: int, first: float) -> None:
        super().__init__(max_attempts=attempts)
        self.first = first

    def get_retry_exception(self, exception: BaseException, job: Job) -> JobRetry | None:
        if isinstance(exception, RetryLater):
            return JobRetry(RetryDecision(retry_at=exception.at))
        if self.max_attempts is not None and job.attempts >= self.max_attempts:
            return None
        wait = min(MAX_RETRY_WAIT, self.first * 2**job.attempts) * random.uniform(1.0, 1.25)
        return JobRetry(RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=wait)))


def is_postgres(settings: Settings) -> bool:
    return make_url(settings.database_url).get_backend_name() == "postgresql"


def conninfo(settings: Settings) -> str:
    """The libpq URI of DATABASE_URL (SQLAlchemy's `postgresql+psycopg://` spelling off)."""
    url = make_url(settings.database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_connector(settings: Settings, engine: Engine) -> BaseConnector:
    """The connector a worker uses: an async psycopg pool, or the SQLite engine."""
    if not is_postgres(settings):
        return SQLiteConnector(engine)
    return PsycopgConnector(
        conninfo=conninfo(settings),
        min_size=1,
        max_size=settings.worker_concurrency + 4,
        kwargs={"connect_timeout": 5},
    )


def make_job_app(settings: Settings, engine: Engine, connector: BaseConnector | None = None) -> App:
    """A procrastinate App for this database, every declared task registered on it. One per
    process that runs jobs (procrastinate renames its built-in tasks at every App made)."""
    job_app = App(connector=connector or make_connector(settings, engine))
    for spec in load_tasks().values():
        task = job_app.task(
            name=spec.name,
            queue=spec.queue,
            priority=spec.priority,
            pass_context=True,
            retry=Backoff(settings.job_retry_attempts, settings.job_retry_seconds)
            if spec.retry
            else False,
        )(spec.func)
        if spec.every is not None:
            seconds = spec.every(settings)
            job_app.periodic(cron=f"* * * * * */{seconds}", periodic_id=spec.name)(task)
    return job_app


def make_deferrer(settings: Settings, connector: BaseConnector) -> Deferrer:
    """Deferring on the caller's connection: SQLite's connector as is (the one its worker
    uses, so that worker hears of new jobs); on Postgres a sync connector that is never
    opened (it only ever uses the connection it is handed)."""
    queues = {name: spec.queue for name, spec in load_tasks().items()}
    if isinstance(connector, SQLiteConnector):
        return Deferrer(JobManager(connector), queues)
    return Deferrer(JobManager(SyncPsycopgConnector(conninfo=conninfo(settings))), queues)
