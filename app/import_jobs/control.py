"""Describing import jobs (for the API and the CLI), and cancelling one: its chunks that
have not started are cancelled, with their tasks in the queue, in one transaction; chunks
already running finish first."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, NotFound
from app.jobs.defer import Deferrer
from app.jobs.sqlite_connector import SQLiteConnector
from app.models import ImportJob, utcnow
from app.repositories.import_jobs import FINISHED, ImportJobRepository


def describe_jobs(session: Session, jobs: Sequence[ImportJob]) -> list[dict[str, Any]]:
    """Each job with its counts so far, in the shape of `JobRead`."""
    counts = ImportJobRepository(session).counts([job.id for job in jobs])
    return [
        {
            "id": job.id,
            "status": job.status,
            "items": job.item_count,
            "processed": sum(counts[job.id].values()),
            "counts": counts[job.id],
            "cancel_requested": job.cancel_requested,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "results": f"/v1/jobs/{job.id}/results",
        }
        for job in jobs
    ]


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
