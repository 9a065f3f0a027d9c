"""The job queue: procrastinate's schema (feed polls, article fetches, async imports)

Postgres gets procrastinate's own schema, vendored at the version the project pins
(`migrations/procrastinate/schema-3.10.0.sql`, MIT licence beside it): its tables, the
functions its workers call and the LISTEN/NOTIFY triggers. A later procrastinate release
that changes its schema comes with its own SQL migrations; they are applied by a new
Alembic revision here, so `python -m app migrate` stays the one migration step.
SQLite gets the same tables in SQLite's SQL, read and written by app/jobs/sqlite_connector.py
(no functions or triggers; its job events are folded into two timestamp columns).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = Path(__file__).resolve().parent.parent / "procrastinate" / "schema-3.10.0.sql"

SQLITE = [
    """CREATE TABLE procrastinate_workers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        last_heartbeat REAL NOT NULL
    )""",
    """CREATE TABLE procrastinate_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_name VARCHAR(128) NOT NULL,
        task_name VARCHAR(128) NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        lock TEXT,
        queueing_lock TEXT,
        args TEXT NOT NULL DEFAULT '{}',
        status VARCHAR(16) NOT NULL DEFAULT 'todo',
        scheduled_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        abort_requested BOOLEAN NOT NULL DEFAULT 0,
        worker_id INTEGER REFERENCES procrastinate_workers(id) ON DELETE SET NULL,
        started_at REAL,
        updated_at REAL NOT NULL,
        CHECK (NOT (status = 'todo' AND abort_requested))
    )""",
    """CREATE TABLE procrastinate_periodic_defers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        task_name VARCHAR(128) NOT NULL,
        periodic_id VARCHAR(128) NOT NULL DEFAULT '',
        defer_timestamp INTEGER,
        UNIQUE (task_name, periodic_id, defer_timestamp)
    )""",
    "CREATE UNIQUE INDEX procrastinate_jobs_queueing_lock_idx_v1 ON procrastinate_jobs "
    "(queueing_lock) WHERE status = 'todo'",
    "CREATE UNIQUE INDEX procrastinate_jobs_lock_idx_v1 ON procrastinate_jobs (lock) "
    "WHERE status = 'doing'",
    "CREATE INDEX procrastinate_jobs_priority_idx_v1 ON procrastinate_jobs (priority DESC, id) "
    "WHERE status = 'todo'",
    "CREATE INDEX procrastinate_jobs_lock_todo_idx ON procrastinate_jobs (lock, status)",
    "CREATE INDEX procrastinate_jobs_worker_idx ON procrastinate_jobs (worker_id) "
    "WHERE status = 'doing'",
]
SQLITE_TABLES = ("procrastinate_periodic_defers", "procrastinate_jobs", "procrastinate_workers")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # On the driver's cursor without parameters: the schema's PL/pgSQL has literal `%`s
        # that a parameterised execute would read as placeholders.
        cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(SCHEMA.read_text(encoding="utf-8"))
        return
    for statement in SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP TABLE IF EXISTS procrastinate_periodic_defers, procrastinate_events, "
            "procrastinate_jobs, procrastinate_workers CASCADE"
        )
        op.execute("DROP TYPE IF EXISTS procrastinate_job_to_defer_v1 CASCADE")
        op.execute("DROP TYPE IF EXISTS procrastinate_job_event_type CASCADE")
        op.execute("DROP TYPE IF EXISTS procrastinate_job_status CASCADE")
        for function in _FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")
        return
    for table in SQLITE_TABLES:
        op.execute(f"DROP TABLE {table}")


_FUNCTIONS = (
    "procrastinate_defer_jobs_v1", "procrastinate_defer_periodic_job_v2",
    "procrastinate_fetch_job_v2", "procrastinate_finish_job_v1", "procrastinate_cancel_job_v1",
    "procrastinate_retry_job_v1", "procrastinate_retry_job_v2",
    "procrastinate_notify_queue_job_inserted_v1", "procrastinate_notify_queue_abort_job_v1",
    "procrastinate_trigger_function_status_events_insert_v1",
    "procrastinate_trigger_function_status_events_update_v1",
    "procrastinate_trigger_function_scheduled_events_v1",
    "procrastinate_trigger_abort_requested_events_procedure_v1",
    "procrastinate_unlink_periodic_defers_v1", "procrastinate_register_worker_v1",
    "procrastinate_unregister_worker_v1", "procrastinate_update_heartbeat_v1",
    "procrastinate_prune_stalled_workers_v1",
)  # fmt: skip
