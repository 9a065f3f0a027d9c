"""The job-queue tasks of background imports: one per chunk, and the periodic upkeep."""

from datetime import timedelta

from procrastinate import JobContext

from app.db import session_scope
from app.import_jobs import CHUNK_QUEUE, CHUNK_TASK
from app.import_jobs.chunks import run_chunk
from app.jobs.registry import job_task, periodic_task, runtime
from app.models import utcnow
from app.repositories.import_jobs import ImportJobRepository

UPKEEP_EVERY = 60  # seconds


@job_task(CHUNK_TASK, queue=CHUNK_QUEUE)
async def import_chunk(context: JobContext, chunk_id: int) -> str | None:
    """Store one chunk of an import job; retried (from the first item without a result)
    after an error or when its worker dies."""
    work = runtime(context)
    last = context.job.attempts >= work.settings.job_retry_attempts
    return await run_chunk(work, chunk_id, last)


@periodic_task("imports:upkeep", every=lambda settings: UPKEEP_EVERY)
def prune_import_jobs(context: JobContext, timestamp: int) -> int:
    """Delete jobs finished more than JOB_KEEP_HOURS ago, and uploads that never completed
    (their server died while reading the body); returns how many."""
    work = runtime(context)
    before = utcnow() - timedelta(hours=work.settings.job_keep_hours)
    with session_scope(work.write_sessions) as session:
        return ImportJobRepository(session).prune(before)
