"""Deferring jobs inside the caller's transaction, so a job exists exactly when the rows
that call for it were committed (a subscribed feed and its first poll, a feed entry and its
article fetch).

procrastinate inserts the job on the connection it is given: the session's own psycopg
connection on Postgres, its SQLAlchemy connection on SQLite (app/jobs/sqlite_connector.py).
Each insert runs in a SAVEPOINT: a queueing lock already taken (a job of the same key still
waiting) is then an expected answer, `None`, and leaves the caller's transaction usable.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from procrastinate import exceptions, jobs
from procrastinate.manager import JobManager
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.jobs.sqlite_connector import SQLiteConnector


class Deferrer:
    """Adds jobs to the queue within a SQLAlchemy session's transaction."""

    def __init__(self, manager: JobManager, queues: dict[str, str]) -> None:
        self.manager = manager
        self.queues = queues  # task name -> its queue

    def defer(
        self,
        session: Session,
        task: str,
        args: dict[str, Any],
        *,
        lock: str | None = None,
        queueing_lock: str | None = None,
        schedule_at: datetime | None = None,
        priority: int = 0,
    ) -> int | None:
        """The new job's id, or None when a job with this `queueing_lock` is still waiting."""
        if task not in self.queues:
            raise KeyError(f"no task named {task!r} (see app/jobs/registry.py)")
        job = jobs.Job(
            id=None,
            queue=self.queues[task],
            task_name=task,
            lock=lock,
            queueing_lock=queueing_lock,
            task_kwargs=args,
            scheduled_at=schedule_at,
            priority=priority,
        )
        sqlite = isinstance(self.manager.connector, SQLiteConnector)
        try:
            with session.begin_nested():
                # asked for inside the block: the SAVEPOINT is emitted when it is
                connection = session.connection()
                raw: Any = connection if sqlite else connection.connection.driver_connection
                job_id = self.manager.defer_job(job, connection=raw).id
        except exceptions.AlreadyEnqueued:
            return None
        if sqlite:
            self._wake_after_commit(session, job.queue, job_id)
        return job_id

    def defer_many(
        self,
        session: Session,
        task: str,
        jobs_args: Sequence[tuple[dict[str, Any], str | None]],
        *,
        priorities: Sequence[int] | None = None,
    ) -> int:
        """Defer one job per (args, key): `key` is both the lock and the queueing lock of
        the job. One insert for the lot; if a key is still queued, one at a time instead.
        `priorities`: each job's (default 0; app/jobs/fairness.py makes them fair).
        Returns how many jobs were added."""
        if not jobs_args:
            return 0
        priorities = priorities or [0] * len(jobs_args)
        batch = [
            jobs.Job(
                id=None,
                queue=self.queues[task],
                task_name=task,
                lock=key,
                queueing_lock=key,
                task_kwargs=args,
                priority=priority,
            )
            for (args, key), priority in zip(jobs_args, priorities, strict=True)
        ]
        sqlite = isinstance(self.manager.connector, SQLiteConnector)
        try:
            with session.begin_nested():
                connection = session.connection()
                raw: Any = connection if sqlite else connection.connection.driver_connection
                added = self.manager.batch_defer_jobs(batch, connection=raw)
        except exceptions.AlreadyEnqueued:
            return sum(
                self.defer(
                    session,
                    task,
                    args,
                    lock=key,
                    queueing_lock=key,
                    priority=priority,
                )
                is not None
                for (args, key), priority in zip(jobs_args, priorities, strict=True)
            )
        if sqlite and added:
            self._wake_after_commit(session, added[0].queue, added[0].id)
        return len(added)

    def _wake_after_commit(self, session: Session, queue: str, job_id: int | None) -> None:
        """The in-process worker (SQLite) looks for the job once it is committed; Postgres
        workers hear of it from the queue's NOTIFY trigger, which fires at commit."""
        connector = self.manager.connector
        assert isinstance(connector, SQLiteConnector)

        def wake(_session: Session) -> None:
            connector.notify_job(queue, job_id or 0)

        event.listen(session, "after_commit", wake, once=True)
