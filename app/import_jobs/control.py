"""Cancelling an import job: its chunks that have not started are cancelled, with their
tasks in the queue, in one transaction; chunks already running finish first."""

from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.jobs.defer import Deferrer
from app.jobs.sqlite_connector import SQLiteConnector
from app.models import ImportJob, utcnow
from app.repositories.import_jobs import FINISHED, ImportJobRepository


def cancel_import(
    session: Session, deferrer: Deferrer, job_id: int, owner: str | None
) -> ImportJob:
    """Cancel what has not started; NotFound unless `owner` (None: anyone) may see the job,
    Conflict when it has finished already. The job is `cancelled` at once when no chunk is
    running, else when the running ones finish."""
    repo = ImportJobRepository(session)
    if repo.get(job_id, owner) is None:
        raise NotFound(f"no job with id {job_id}")
    job = repo.lock(job_id)
    assert job is not None
    if job.status in FINISHED:
        raise Conflict(f"job {job_id} is {job.status} already: there is nothing to cancel")
    for queue_job_id in repo.cancel(job, utcnow()):
        _cancel_queued(session, deferrer, queue_job_id)
    return job


def _cancel_queued(session: Session, deferrer: Deferrer, queue_job_id: int) -> None:
    """Take the task out of the queue on the session's own connection (procrastinate's
    cancel query; a task that started meanwhile finds its chunk cancelled and does nothing)."""
    connection = session.connection()
    raw: Any = (
        connection
        if isinstance(deferrer.manager.connector, SQLiteConnector)
        else connection.connection.driver_connection
    )
    deferrer.manager.cancel_job_by_id(queue_job_id, connection=raw)
