"""The queue's own upkeep, run by whichever worker gets the periodic job.

Stalled jobs: procrastinate records each worker's heartbeat; a job still `doing` whose
worker has been silent for JOB_STALLED_SECONDS (killed, or its machine gone) is put back to
`todo`, so another worker runs it again. Every task is written to be run again safely (a
fetch finds its article stored already; a poll repeats a conditional GET).

The queue's statistics (Postgres): with stale ones the planner fetches the next job by
scanning the queue once per candidate (seen: a Postgres backend at a full core and 4
articles/s instead of 18 with 5,000 jobs queued, on a server with autovacuum off); a burst
of thousands of deferred jobs also outruns autovacuum's own schedule. So every worker
process checks each tick whether the queue's rows changed enough since the last ANALYZE
(autovacuum's own rule, from ANALYZE_AFTER rows) and analyzes it: a sample of at most
30,000 rows, milliseconds. The check runs beside the worker's jobs, not as one: a job would
wait its turn in the very queue it fixes (seen: 15,000 fetches deferred by a first round of
polls, each next job taking 8 s to fetch, the periodic job that would analyze among them).
"""

import asyncio
import logging

from procrastinate import JobContext
from procrastinate.connector import BaseConnector

from app.jobs.registry import job_task, periodic_task, runtime

log = logging.getLogger(__name__)
PRUNE_EVERY = 3600  # seconds between two prunings of finished jobs
ANALYZE_AFTER = 1000  # changed rows (+ 10 % of the table) before the queue is analyzed again


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


async def keep_statistics(connector: BaseConnector, every: float) -> None:
    """Until cancelled: every `every` seconds, analyze the queue's table if it is stale."""
    while True:
        await asyncio.sleep(every)
        try:
            await analyze_if_stale(connector)
        except Exception as exc:  # the database away for a moment: the next tick tries again
            log.warning("could not check the job queue's statistics: %s", exc)


async def analyze_if_stale(connector: BaseConnector) -> None:
    """ANALYZE the queue's table if its rows changed enough since the last time."""
    stale = await connector.execute_query_one_async(
        "SELECT coalesce(bool_or(n_mod_since_analyze >= %(after)s + n_live_tup / 10), false)"
        " AS stale FROM pg_stat_user_tables WHERE relid = 'procrastinate_jobs'::regclass",
        after=ANALYZE_AFTER,
    )
    if stale["stale"]:
        await connector.execute_query_async("ANALYZE procrastinate_jobs")


@job_task("jobs:ping", retry=False)
def ping(context: JobContext, note: str = "") -> str:
    """Does nothing: shows that some worker runs jobs (`python -m app worker` health, tests)."""
    log.info("ping %s", note)
    return note
