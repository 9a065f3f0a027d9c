"""Background imports in /metrics: jobs by status, read from the database when scraped (the
same figures whichever API process answers). The queue's own tasks, chunk tasks included,
are the `jobs` and `job_queue_depth` gauges of app/jobs/stats.py."""

import logging

from prometheus_client import Gauge
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.repositories.import_jobs import SHOWN, ImportJobRepository

log = logging.getLogger(__name__)

IMPORT_JOBS = Gauge(
    "import_jobs",
    "Background imports (POST /v1/imports with Prefer: respond-async), by status.",
    ["status"],
    multiprocess_mode="mostrecent",
)


def refresh_import_gauges(engine: Engine) -> None:
    """Read the import jobs' counts by status into the gauge; never raises."""
    try:
        with Session(engine) as session:
            counts = ImportJobRepository(session).count_by_status()
        for status in SHOWN:
            IMPORT_JOBS.labels(status=status).set(counts.get(status, 0))
    except Exception:  # a scrape must never fail for this
        log.warning("import job metrics not refreshed", exc_info=True)
