"""`python -m app worker`: run background jobs (feed polls, article fetches, ...)."""

import click
from prometheus_client import start_http_server

from app.config import get_settings
from app.jobs.worker import serve_worker


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=None,
    help="Jobs run at once by this process (default: WORKER_CONCURRENCY).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this worker's Prometheus metrics (polls, fetches) on HOST:PORT.",
)
def worker_command(concurrency: int | None, metrics_port: int | None) -> None:
    """Run background jobs (feed polls, article fetches, async imports) until stopped.

    On SIGINT or SIGTERM, running jobs get JOB_SHUTDOWN_SECONDS to finish.
    Start as many as the load needs, on any machines that reach the database (Postgres);
    a worker killed outright has its running jobs retried by the others.
    """
    settings = get_settings()
    if metrics_port is not None:
        start_http_server(metrics_port, addr=settings.host)
    serve_worker(settings, concurrency or settings.worker_concurrency)
