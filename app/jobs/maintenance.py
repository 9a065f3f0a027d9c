"""The queue's own upkeep, run by whichever worker gets the periodic job.

Stalled jobs: procrastinate records each worker's heartbeat; a job still `doing` whose
worker has been silent for JOB_STALLED_SECONDS (killed, or its machine gone) is put back to
`todo`, so another worker runs it again. Every task is written to be run again safely (a
fetch finds its article stored already; a poll repeats a conditional GET).
"""

import logging

from procrastinate import JobContext

from app.jobs.registry import job_task, periodic_task, runtime

log = logging.getLogger(__name__)
PRUNE_EVERY = 3600  # seconds between two prunings of finished jobs


@periodic_task("jobs:recover", every=lambda settings: settings.job_tick_seconds)
async def recover_stalled_jobs(context: JobContext, timestamp: int) -> int:
    """Retry the jobs of dead workers; returns how many."""
    settings = runtime(context).settings
    manager = context.app.job_manager
    stalled = list(
        await manager.get_stalled_jobs(seconds_since_heartbeat=settings.job_stalled_seconds)
    )
    for job in stalled:
        log.warning("retrying job %s of a worker that stopped answering", job.call_string)
        await manager.retry_job(job)
    if timestamp % PRUNE_EVERY < settings.job_tick_seconds:
        await manager.delete_old_jobs(
            nb_hours=settings.job_keep_hours,
            include_failed=True,
            include_cancelled=True,
            include_aborted=True,
        )
    return len(stalled)


@job_task("jobs:ping", retry=False)
def ping(context: JobContext, note: str = "") -> str:
    """Does nothing: shows that some worker runs jobs (`python -m app worker` health, tests)."""
    log.info("ping %s", note)
    return note
