"""The job-queue tasks of background imports: one per chunk, and the periodic upkeep."""

from datetime import timedelta

from procrastinate import JobContext

from app.db import session_scope
from app.import_jobs import CHUNK_QUEUE, CHUNK_TASK
from app.import_jobs.chunks import give_up, run_chunk
from app.jobs.registry import job_task, periodic_task, runtime
from app.models import utcnow
from app.repositories.import_jobs import ImportJobRepository

UPKEEP_TICKS = 6  # the upkeep runs every this many scheduler ticks (at most once a minute)


@job_task(CHUNK_TASK, queue=CHUNK_QUEUE)
async def import_chunk(context: JobContext, chunk_id: int) -> str | None:
    """Store one chunk of an import job; retried (from the first item without a result)
    after an error or when its worker dies."""
    work = runtime(context)
    last = context.job.attempts >= work.settings.job_retry_attempts
    return await run_chunk(work, chunk_id, last)


@periodic_task("imports:upkeep", every=lambda s: min(60, UPKEEP_TICKS * s.job_tick_seconds))
def import_upkeep(context: JobContext, timestamp: int) -> int:
    """Finish chunks whose task is gone from the queue (failed for good before it could
    record so: its items get error results), then delete jobs finished more than
    JOB_KEEP_HOURS ago and uploads that never completed (their server died while reading
    the body). Returns how many rows it dealt with."""
    work = runtime(context)
    now = utcnow()
    with session_scope(work.write_sessions) as session:
        repo = ImportJobRepository(session)
        orphans = repo.orphaned_chunks()
        for chunk_id in orphans:
            chunk = repo.get_chunk(chunk_id)
            assert chunk is not None
            repo.lock(chunk.job_id)  # the job's row first, as every writer of a job does
            give_up(session, chunk_id)
            repo.finish(chunk_id, "failed", now)
        return len(orphans) + repo.prune(now - timedelta(hours=work.settings.job_keep_hours))
