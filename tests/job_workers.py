"""`python -m app worker` processes for tests, with short heartbeats and scheduler ticks."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
WAIT = 120  # seconds: a bound on a hang, never a speed target

# Fast enough for tests to see retries, recoveries and schedules within seconds.
FAST_JOBS = {
    "JOB_HEARTBEAT_SECONDS": "1",
    "JOB_STALLED_SECONDS": "4",
    "JOB_TICK_SECONDS": "1",
    "JOB_FETCH_INTERVAL": "0.5",
    "JOB_RETRY_SECONDS": "0.5",
    "JOB_SHUTDOWN_SECONDS": "5",
    "FETCH_ALLOWED_NETWORKS": "127.0.0.0/8",
    "FEED_HOST_DELAY": "0",
    "FEED_HOST_CONCURRENCY": "8",
    "LOG_LEVEL": "WARNING",
}


def empty_job_queue(db: Engine) -> None:
    """Remove what tests left in the job queue: jobs, periodic defers, registered workers."""
    with db.begin() as conn:
        for table in ("jobs", "periodic_defers", "workers"):
            conn.execute(text(f"DELETE FROM procrastinate_{table}"))


class Worker:
    """One worker process; `stop()` sends SIGTERM, `kill()` SIGKILL."""

    def __init__(self, database_url: str, concurrency: int = 2, env: dict[str, str] | None = None):
        environ = {**os.environ, **FAST_JOBS, "DATABASE_URL": database_url, **(env or {})}
        command = [sys.executable, "-m", "app", "worker", "--concurrency", str(concurrency)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=environ)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=WAIT)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=WAIT)


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Poll `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")
