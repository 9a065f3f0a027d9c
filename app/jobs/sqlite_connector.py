"""procrastinate on SQLite: the queries its worker and job manager run, in SQLite's SQL.

procrastinate ships connectors for Postgres only. The embedded default (SQLite, one
machine) runs the same task functions, with the same semantics (locks, queueing locks,
retries, periodic defers, heartbeats, stalled workers), inside the server process; this
connector answers each named query of `procrastinate/sql/queries.sql` against tables made
by migration 0007 (`procrastinate_jobs`, `_workers`, `_periodic_defers`; the events of the
Postgres schema are folded into `started_at` / `updated_at` columns). It talks to the
database through the app's SQLAlchemy engine, so it shares its SQLite settings and its
per-process writer queue. Notifications stay in the process (the only worker is here).
"""

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from procrastinate import connector, exceptions, manager, sql, types
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from app.db import writer

_NAMES = {query: name for name, query in sql.queries.items()}
_JOB_COLUMNS = (
    "id, status, task_name, priority, lock, queueing_lock, args, scheduled_at, queue_name, "
    "attempts, worker_id, abort_requested"
)
_READS = frozenset(
    {"get_job_status", "check_connection", "select_stalled_jobs_by_started",
     "select_stalled_jobs_by_heartbeat", "list_jobs_to_abort", "list_jobs",
     "count_jobs_status", "list_queues", "list_tasks", "list_locks"}
)  # fmt: skip


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _job(row: Any) -> dict[str, Any]:
    job = dict(row._mapping)
    job["args"] = json.loads(job["args"])
    job["abort_requested"] = bool(job["abort_requested"])
    scheduled = job["scheduled_at"]
    job["scheduled_at"] = datetime.fromtimestamp(scheduled, UTC) if scheduled else None
    return job


class SQLiteConnector(connector.BaseAsyncConnector):
    """An async procrastinate connector over the archive's SQLite engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._notify: connector.Notify | None = None
        self._channels: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get_sync_connector(self) -> connector.BaseConnector:
        return self

    async def open_async(self, pool: Any = None) -> None:
        self._loop = asyncio.get_running_loop()

    async def close_async(self) -> None:
        self._notify = None

    def open(self, pool: Any = None) -> None:
        return None

    def close(self) -> None:
        return None

    async def execute_query_async(self, query: str, **arguments: Any) -> None:
        await asyncio.to_thread(self._run, None, query, arguments)

    async def execute_query_one_async(self, query: str, **arguments: Any) -> dict[str, Any]:
        return await asyncio.to_thread(self._run, None, query, arguments)

    async def execute_query_all_async(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._run, None, query, arguments)

    # Deferring inside the caller's transaction: `connection` is its SQLAlchemy Connection.
    def execute_query(self, query: str, **arguments: Any) -> None:
        self._run(None, query, arguments)

    def execute_query_one(self, query: str, **arguments: Any) -> dict[str, Any]:
        return self._run(None, query, arguments)  # type: ignore[no-any-return]

    def execute_query_all(self, query: str, **arguments: Any) -> list[dict[str, Any]]:
        return self._run(None, query, arguments)  # type: ignore[no-any-return]

    def execute_query_one_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return self._run(connection, query, arguments)  # type: ignore[no-any-return]

    def execute_query_all_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return self._run(connection, query, arguments)  # type: ignore[no-any-return]

    async def execute_query_one_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> dict[str, Any]:
        return self._run(connection, query, arguments)  # type: ignore[no-any-return]

    async def execute_query_all_async_with_connection(
        self, connection: Any, query: str, **arguments: Any
    ) -> list[dict[str, Any]]:
        return self._run(connection, query, arguments)  # type: ignore[no-any-return]

    async def listen_notify(
        self, on_notification: connector.Notify, channels: Iterable[str]
    ) -> None:
        self._notify, self._channels = on_notification, set(channels)

    def _run(self, connection: Connection | None, query: str, arguments: dict[str, Any]) -> Any:
        name = _NAMES.get(query)
        if name is None:
            raise exceptions.ConnectorException(f"query not supported on SQLite: {query[:60]}")
        handler: Callable[..., Any] = getattr(self, f"_q_{name}")
        if connection is not None:
            return handler(connection, **arguments)
        if name in _READS:
            with self.engine.connect() as conn:
                return handler(conn, **arguments)
        with writer(self.engine).begin() as conn:
            return handler(conn, **arguments)

    def notify_job(self, queue: str, job_id: int) -> None:
        """Tell the in-process worker a job is waiting (procrastinate's LISTEN/NOTIFY)."""
        notify, loop = self._notify, self._loop
        wanted = {"procrastinate_any_queue_v1", f"procrastinate_queue_v1#{queue}"}
        if notify is None or loop is None or loop.is_closed() or not wanted & self._channels:
            return
        payload = json.dumps({"type": "job_inserted", "job_id": job_id})
        channel = next(iter(wanted & self._channels))
        loop.call_soon_threadsafe(
            lambda: loop.create_task(notify(channel=channel, payload=payload))  # type: ignore[arg-type]
        )

    # -- the queries, one method each, named after procrastinate's -----------------------

    def _q_defer_jobs(self, conn: Connection, jobs: list[types.JobToDefer]) -> list[dict[str, Any]]:
        rows = []
        now = time.time()
        for job in jobs:
            try:
                with conn.begin_nested():
                    job_id = conn.execute(
                        text(
                            "INSERT INTO procrastinate_jobs (queue_name, task_name, priority, "
                            "lock, queueing_lock, args, scheduled_at, status, updated_at) "
                            "VALUES (:queue, :task, :priority, :lock, :qlock, :args, :at, "
                            "'todo', :now) RETURNING id"
                        ),
                        {
                            "queue": job.queue_name,
                            "task": job.task_name,
                            "priority": job.priority,
                            "lock": job.lock,
                            "qlock": job.queueing_lock,
                            "args": json.dumps(job.args),
                            "at": _epoch(job.scheduled_at),
                            "now": now,
                        },
                    ).scalar_one()
            except IntegrityError:
                raise exceptions.UniqueViolation(
                    constraint_name=manager.QUEUEING_LOCK_CONSTRAINT,
                    queueing_lock=job.queueing_lock,
                ) from None
            rows.append({"id": job_id})
            self.notify_job(job.queue_name, job_id)
        return rows

    def _q_defer_periodic_job(
        self, conn: Connection, queue: str, lock: str | None, queueing_lock: str | None,
        task_name: str, priority: int, periodic_id: str, defer_timestamp: int,
        args: types.JSONDict,
    ) -> dict[str, Any]:  # fmt: skip
        claimed = conn.execute(
            text(
                "INSERT INTO procrastinate_periodic_defers (task_name, periodic_id, "
                "defer_timestamp) VALUES (:task, :pid, :ts) ON CONFLICT DO NOTHING RETURNING id"
            ),
            {"task": task_name, "pid": periodic_id, "ts": defer_timestamp},
        ).scalar()
        if claimed is None:
            return {"id": None}
        job = types.JobToDefer(queue, task_name, priority, lock, queueing_lock, args, None)
        try:
            job_id = self._q_defer_jobs(conn, [job])[0]["id"]
        except exceptions.UniqueViolation:
            job_id = None  # the previous run's job is still waiting: nothing to add
        conn.execute(
            text(
                "DELETE FROM procrastinate_periodic_defers WHERE task_name = :task AND "
                "periodic_id = :pid AND defer_timestamp < :ts"
            ),
            {"task": task_name, "pid": periodic_id, "ts": defer_timestamp},
        )
        return {"id": job_id}

    def _q_fetch_job(
        self, conn: Connection, queues: list[str] | None, worker_id: int
    ) -> dict[str, Any]:
        queue_filter = ""
        params: dict[str, Any] = {"now": time.time(), "worker": worker_id}
        if queues:
            names = {f"q{i}": q for i, q in enumerate(queues)}
            queue_filter = f"AND j.queue_name IN ({', '.join(':' + k for k in names)})"
            params |= names
        candidate = conn.execute(
            text(
                "SELECT j.id FROM procrastinate_jobs j WHERE j.status = 'todo' "
                f"{queue_filter} AND (j.scheduled_at IS NULL OR j.scheduled_at <= :now) "
                "AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs o WHERE j.lock IS NOT NULL "
                "AND o.lock = j.lock AND (o.status = 'doing' OR (o.status = 'todo' AND "
                "(o.priority > j.priority OR (o.priority = j.priority AND o.id < j.id))))) "
                "ORDER BY j.priority DESC, j.id LIMIT 1"
            ),
            params,
        ).scalar()
        if candidate is None:
            return {"id": None}
        row = conn.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'doing', worker_id = :worker, "
                f"started_at = :now, updated_at = :now WHERE id = :id RETURNING {_JOB_COLUMNS}"
            ),
            {"worker": worker_id, "now": time.time(), "id": candidate},
        ).one()
        return _job(row)

    def _q_finish_job(self, conn: Connection, job_id: int, status: str, delete_job: bool) -> None:
        if delete_job:
            sql_ = "DELETE FROM procrastinate_jobs WHERE id = :id AND status IN ('todo', 'doing')"
        else:
            sql_ = (
                "UPDATE procrastinate_jobs SET status = :status, abort_requested = 0, "
                "attempts = attempts + (status = 'doing'), updated_at = :now "
                "WHERE id = :id AND status IN ('todo', 'doing')"
            )
        done = conn.execute(text(sql_), {"id": job_id, "status": status, "now": time.time()})
        if not done.rowcount:
            raise exceptions.ConnectorException(f"job {job_id} not found or not todo/doing")

    def _q_cancel_job(
        self, conn: Connection, job_id: int, abort: bool, delete_job: bool
    ) -> dict[str, Any]:
        params = {"id": job_id, "now": time.time()}
        if delete_job:
            gone = conn.execute(
                text("DELETE FROM procrastinate_jobs WHERE id = :id AND status = 'todo'"), params
            )
            if gone.rowcount:
                return {"id": job_id}
        if abort:
            sql_ = (
                "UPDATE procrastinate_jobs SET abort_requested = 1, updated_at = :now, "
                "status = CASE status WHEN 'todo' THEN 'cancelled' ELSE status END "
                "WHERE id = :id AND status IN ('todo', 'doing')"
            )
        else:
            sql_ = (
                "UPDATE procrastinate_jobs SET status = 'cancelled', updated_at = :now "
                "WHERE id = :id AND status = 'todo'"
            )
        return {"id": job_id if conn.execute(text(sql_), params).rowcount else None}

    def _q_get_job_status(self, conn: Connection, job_id: int) -> dict[str, Any]:
        status = conn.execute(
            text("SELECT status FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
        ).scalar()
        if status is None:
            raise exceptions.NoResult
        return {"status": status}

    def _q_retry_job(
        self, conn: Connection, job_id: int, retry_at: datetime, new_priority: int | None,
        new_queue_name: str | None, new_lock: str | None,
    ) -> None:  # fmt: skip
        aborting = conn.execute(
            text("SELECT abort_requested FROM procrastinate_jobs WHERE id = :id"), {"id": job_id}
        ).scalar()
        params = {
            "id": job_id, "at": _epoch(retry_at), "priority": new_priority,
            "queue": new_queue_name, "lock": new_lock, "now": time.time(),
        }  # fmt: skip
        if aborting:
            sql_ = (
                "UPDATE procrastinate_jobs SET status = 'failed', updated_at = :now "
                "WHERE id = :id AND status = 'doing'"
            )
        else:
            sql_ = (
                "UPDATE procrastinate_jobs SET status = 'todo', attempts = attempts + 1, "
                "scheduled_at = :at, priority = COALESCE(:priority, priority), "
                "queue_name = COALESCE(:queue, queue_name), lock = COALESCE(:lock, lock), "
                "updated_at = :now WHERE id = :id AND status IN ('doing', 'failed')"
            )
        if not conn.execute(text(sql_), params).rowcount:
            raise exceptions.ConnectorException(f"job {job_id} not found or not retryable")

    def _q_select_stalled_jobs_by_started(
        self, conn: Connection, nb_seconds: int, queue: str | None, task_name: str | None
    ) -> list[dict[str, Any]]:
        rows = conn.execute(
            text(
                f"SELECT {_JOB_COLUMNS} FROM procrastinate_jobs WHERE status = 'doing' "
                "AND started_at < :before AND (:queue IS NULL OR queue_name = :queue) "
                "AND (:task IS NULL OR task_name = :task)"
            ),
            {"before": time.time() - nb_seconds, "queue": queue, "task": task_name},
        )
        return [_job(r) for r in rows]

    def _q_select_stalled_jobs_by_heartbeat(
        self, conn: Connection, queue: str | None, task_name: str | None,
        seconds_since_heartbeat: float,
    ) -> list[dict[str, Any]]:  # fmt: skip
        rows = conn.execute(
            text(
                f"SELECT {', '.join('j.' + c.strip() for c in _JOB_COLUMNS.split(','))} "
                "FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w "
                "ON w.id = j.worker_id WHERE j.status = 'doing' "
                "AND (:queue IS NULL OR j.queue_name = :queue) "
                "AND (:task IS NULL OR j.task_name = :task) "
                "AND (w.id IS NULL OR w.last_heartbeat < :before)"
            ),
            {"before": time.time() - seconds_since_heartbeat, "queue": queue, "task": task_name},
        )
        return [_job(r) for r in rows]

    def _q_delete_old_jobs(
        self, conn: Connection, nb_hours: int, queue: str | None, statuses: list[str]
    ) -> None:
        names = {f"s{i}": s for i, s in enumerate(statuses)}
        conn.execute(
            text(
                "DELETE FROM procrastinate_jobs WHERE updated_at < :before "
                f"AND status IN ({', '.join(':' + k for k in names) or 'NULL'}) "
                "AND (:queue IS NULL OR queue_name = :queue)"
            ),
            {"before": time.time() - nb_hours * 3600, "queue": queue, **names},
        )

    def _q_check_connection(self, conn: Connection) -> dict[str, Any]:
        found = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'procrastinate_jobs'")
        ).scalar()
        return {"check": True if found else None}

    def _q_list_jobs_to_abort(
        self, conn: Connection, queue_name: str | None
    ) -> list[dict[str, Any]]:
        rows = conn.execute(
            text(
                "SELECT id FROM procrastinate_jobs WHERE status = 'doing' AND abort_requested = 1 "
                "AND (:queue IS NULL OR queue_name = :queue)"
            ),
            {"queue": queue_name},
        )
        return [{"id": r.id} for r in rows]

    def _q_count_jobs_status(self, conn: Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            text("SELECT count(*) AS count, status FROM procrastinate_jobs GROUP BY status")
        )
        return [dict(r._mapping) for r in rows]

    def _q_list_jobs(self, conn: Connection, **filters: Any) -> list[dict[str, Any]]:
        where = " AND ".join(f"(:{k} IS NULL OR {k} = :{k})" for k in filters) or "1"
        rows = conn.execute(
            text(f"SELECT {_JOB_COLUMNS} FROM procrastinate_jobs WHERE {where} ORDER BY id"),
            filters,
        )
        return [_job(r) for r in rows]

    def _q_register_worker(self, conn: Connection) -> dict[str, Any]:
        worker_id = conn.execute(
            text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (:now) RETURNING id"),
            {"now": time.time()},
        ).scalar_one()
        return {"worker_id": worker_id}

    def _q_unregister_worker(self, conn: Connection, worker_id: int) -> None:
        conn.execute(text("DELETE FROM procrastinate_workers WHERE id = :id"), {"id": worker_id})

    def _q_update_heartbeat(self, conn: Connection, worker_id: int) -> None:
        conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = :now WHERE id = :id"),
            {"now": time.time(), "id": worker_id},
        )

    def _q_prune_stalled_workers(
        self, conn: Connection, seconds_since_heartbeat: float
    ) -> list[dict[str, Any]]:
        rows = conn.execute(
            text("DELETE FROM procrastinate_workers WHERE last_heartbeat < :before RETURNING id"),
            {"before": time.time() - seconds_since_heartbeat},
        )
        return [{"worker_id": r.id} for r in rows]
