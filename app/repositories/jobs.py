"""Read-only queries on the job queue's table (procrastinate owns its writes)."""

from sqlalchemy import String, column, func, select, table, text
from sqlalchemy.orm import Session

JOB_TABLE = table(
    "procrastinate_jobs",
    column("id"),
    column("status"),
    column("queue_name"),
    column("task_name"),
)


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def count_by_status(self) -> dict[str, int]:
        query = select(JOB_TABLE.c.status, func.count()).group_by(JOB_TABLE.c.status)
        return {str(status): count for status, count in self.session.execute(query).all()}

    def waiting_by_queue(self) -> dict[str, int]:
        """Jobs not started yet (`todo`), by queue."""
        query = (
            select(JOB_TABLE.c.queue_name, func.count())
            # Postgres: an enum, compared as text (no enum operator takes a varchar)
            .where(JOB_TABLE.c.status.cast(String) == "todo")
            .group_by(JOB_TABLE.c.queue_name)
        )
        return {str(queue): count for queue, count in self.session.execute(query).all()}

    def top_waiting_priority(self, task: str, now: float) -> int | None:
        """The highest priority among the task's jobs waiting to run now (`todo`, not
        scheduled later): the next one a worker takes. `now`: seconds since the epoch."""
        # literal 'todo' (an enum on Postgres), so that the queue's partial index serves it
        if self.session.get_bind().dialect.name == "postgresql":
            due = "(scheduled_at IS NULL OR scheduled_at <= to_timestamp(:now))"
        else:  # app/jobs/sqlite_connector.py keeps epoch seconds
            due = "(scheduled_at IS NULL OR scheduled_at <= :now)"
        query = text(
            "SELECT max(priority) FROM procrastinate_jobs "
            f"WHERE status = 'todo' AND task_name = :task AND {due}"
        )
        return self.session.execute(query, {"task": task, "now": now}).scalar()
