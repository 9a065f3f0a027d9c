"""Logs, request ids and metrics: `install_observability(app, settings)` in `create_app`.

This package writes the access log and sets up logging when the app is created, so uvicorn's
own should be off: `uvicorn.run("app.main:app", ..., log_config=None, access_log=False)`, or
`uvicorn app.main:app --no-access-log` on the command line (uvicorn's default logging set-up
happens before the app is imported; `configure_logging` then re-routes its loggers here).
Several worker processes: see `app.observability.metrics`.
"""

from typing import Any

from fastapi import FastAPI

from app.config import Settings
from app.observability.logs import JsonFormatter, configure_logging, current_request_id
from app.observability.metrics import (
    metrics_endpoint,
    record_fetch_failure,
    record_ingest,
    record_outcomes,
)
from app.observability.middleware import RequestMiddleware

__all__ = [
    "JsonFormatter",
    "configure_logging",
    "current_request_id",
    "install_observability",
    "record_fetch_failure",
    "record_ingest",
    "record_outcomes",
]


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Configure logging, wrap the app in the request middleware, serve `GET /metrics`."""
    configure_logging(settings.log_level, settings.log_format)
    if settings.metrics_enabled:
        app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    build_stack = app.build_middleware_stack

    def build_outermost() -> Any:
        # Outside Starlette's ServerErrorMiddleware, so a 500 carries the id and is counted.
        return RequestMiddleware(build_stack(), metrics=settings.metrics_enabled)

    app.build_middleware_stack = build_outermost  # type: ignore[method-assign]
