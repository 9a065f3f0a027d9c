"""The job engine on the test database: jobs deferred in a transaction exist exactly when it
commits, queueing locks, and a real `python -m app worker` process running them."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.config import Settings
from app.db import make_sessionmaker, session_scope
from app.jobs.engine import make_connector, make_deferrer
from app.jobs.registry import load_tasks
from app.jobs.worker import runs_in_server
from tests.job_workers import Worker, empty_job_queue, wait_for


@pytest.fixture
def queue(db: Engine) -> Iterator[Engine]:
    """The database with the job tables emptied after the test."""
    yield db
    empty_job_queue(db)


def _jobs(engine: Engine, task: str) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status FROM procrastinate_jobs WHERE task_name = :t ORDER BY id"),
            {"t": task},
        )
        return [(r.id, str(r.status)) for r in rows]


def test_every_task_module_declares_its_tasks() -> None:
    assert {"jobs:ping", "jobs:recover"} <= set(load_tasks())


def test_a_job_exists_only_if_its_transaction_commits(queue: Engine, settings: Settings) -> None:
    deferrer = make_deferrer(settings, make_connector(settings, queue))
    sessions = make_sessionmaker(queue)

    def fails_after_deferring() -> None:
        with session_scope(sessions) as session:
            deferrer.defer(session, "jobs:ping", {"note": "rolled back"})
            raise RuntimeError("the caller's work failed")

    with pytest.raises(RuntimeError):
        fails_after_deferring()
    assert _jobs(queue, "jobs:ping") == []
    with session_scope(sessions) as session:
        first = deferrer.defer(session, "jobs:ping", {"note": "a"}, queueing_lock="ping")
        # the same queueing lock while the first still waits: no second job, and the
        # transaction goes on (the refused insert ran in a savepoint)
        assert deferrer.defer(session, "jobs:ping", {"note": "b"}, queueing_lock="ping") is None
        other = deferrer.defer(session, "jobs:ping", {"note": "c"})
    assert [job_id for job_id, _ in _jobs(queue, "jobs:ping")] == [first, other]


def test_a_worker_process_runs_deferred_jobs(
    queue: Engine, settings: Settings, database_url: str
) -> None:
    deferrer = make_deferrer(settings, make_connector(settings, queue))
    with session_scope(make_sessionmaker(queue)) as session:
        for n in range(5):
            deferrer.defer(session, "jobs:ping", {"note": str(n)})
    worker = Worker(database_url)
    try:
        wait_for(
            lambda: [s for _, s in _jobs(queue, "jobs:ping")] == ["succeeded"] * 5,
            "the worker to run the five jobs",
        )
        # and the periodic scheduler runs in it too
        wait_for(lambda: _jobs(queue, "jobs:recover"), "a periodic job")
    finally:
        assert worker.stop() == 0  # SIGTERM: a clean stop


def _analyzed(engine: Engine) -> int:
    with engine.connect() as conn:
        query = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'procrastinate_jobs'"
        return int(conn.execute(text(query)).scalar_one())


def test_a_worker_renews_the_queues_statistics_during_a_burst(
    queue: Engine, settings: Settings, database_url: str
) -> None:
    """Stale statistics make Postgres fetch each job by scanning the whole queue; a server
    with autovacuum off (this one) never renews them by itself. The worker renews them
    while the burst is still queued: a job doing it would wait behind the burst (seen: each
    of 15,000 queued fetches taking 8 s to fetch, the job that would fix it among them)."""
    if queue.dialect.name != "postgresql":
        pytest.skip("statistics are Postgres's")
    before = _analyzed(queue)
    deferrer = make_deferrer(settings, make_connector(settings, queue))
    with session_scope(make_sessionmaker(queue)) as session:
        deferrer.defer_many(session, "jobs:ping", [({"note": str(n)}, None) for n in range(4000)])
    worker = Worker(database_url, concurrency=1)
    try:
        wait_for(lambda: _analyzed(queue) > before, "the queue's table to be analyzed")
        waiting = [s for _, s in _jobs(queue, "jobs:ping")].count("todo")
        assert waiting > 0, "analyzed only once the burst was done"
    finally:
        assert worker.stop() == 0


def test_jobs_run_in_the_server_on_sqlite_only_unless_set() -> None:
    sqlite, postgres = "sqlite:///x.db", "postgresql+psycopg://u@127.0.0.1/db"
    assert runs_in_server(Settings(database_url=sqlite, worker_in_server=None))
    assert not runs_in_server(Settings(database_url=postgres, worker_in_server=None))
    assert runs_in_server(Settings(database_url=postgres, worker_in_server=True))
    assert not runs_in_server(Settings(database_url=sqlite, worker_in_server=False))


def test_entries_left_without_a_fetch_job_get_one_once(queue: Engine, settings: Settings) -> None:
    """An entry whose URL another feed's fetch job took before the entry was committed is
    found by the scheduler's sweep and queued, once."""
    from datetime import timedelta
    from types import SimpleNamespace

    from app.feeds.tasks import _requeue_stranded
    from app.models import Feed, FeedEntry, utcnow

    now = utcnow()
    with session_scope(make_sessionmaker(queue)) as session:
        feed = Feed(url="http://127.0.0.1/f", url_key="127.0.0.1/f", next_poll_at=now)
        session.add(feed)
        session.flush()
        for minutes, path in ((20, "old"), (1, "new")):
            session.add(
                FeedEntry(
                    feed_id=feed.id,
                    url=f"http://127.0.0.1/{path}",
                    url_key=f"127.0.0.1/{path}",
                    first_seen_at=now - timedelta(minutes=minutes),
                )
            )
    work: Any = SimpleNamespace(deferrer=make_deferrer(settings, make_connector(settings, queue)))
    for _ in range(2):
        with session_scope(make_sessionmaker(queue)) as session:
            _requeue_stranded(work, session, now)
    with queue.connect() as conn:
        jobs = conn.execute(
            text("SELECT args FROM procrastinate_jobs WHERE task_name = 'feeds:fetch'")
        ).all()
    assert len(jobs) == 1
    assert "127.0.0.1/old" in str(jobs[0].args)
