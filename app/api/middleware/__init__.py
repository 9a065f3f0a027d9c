"""The HTTP edge around the routes: `install_middleware(app, settings)` in `create_app`.

Request path, outermost first:

    RequestMiddleware     request id, access log, HTTP metrics        (requests.py)
    AuthMiddleware        API key, scope, rate limit: 401/403/429     (auth.py, ratelimit.py)
    IdempotencyMiddleware POSTs with an Idempotency-Key               (idempotency.py,
                                                                       idempotency_records.py)
    the routes

All are plain ASGI callables, so streamed bodies pass untouched. Errors they answer
themselves go through `app.api.errors.send_problem`, as problem+json like the routes'.
`openapi.py` writes the same rules into the OpenAPI schema. Keys, scopes and their CLI are
in `app.security`; logging and metric counters in `app.observability`.
"""

from typing import Any

from fastapi import FastAPI

from app.api.middleware.auth import AuthMiddleware
from app.api.middleware.idempotency import IdempotencyMiddleware
from app.api.middleware.ratelimit import RateLimiter
from app.api.middleware.requests import RequestMiddleware, metrics_endpoint
from app.config import Settings
from app.observability import configure_logging

__all__ = ["install_middleware"]


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Configure logging, serve `GET /metrics`, and add the middleware (before the app starts).

    This writes the access log and sets up logging, so uvicorn's own should be off:
    `uvicorn.run("app.main:app", ..., log_config=None, access_log=False)`, or `uvicorn
    app.main:app --no-access-log` on the command line (uvicorn's default logging set-up
    happens before the app is imported; `configure_logging` then re-routes its loggers here).
    Several worker processes: see `app.observability.metrics`.
    """
    configure_logging(settings.log_level, settings.log_format)
    if settings.metrics_enabled:
        app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    build_stack = app.build_middleware_stack

    def build_outermost() -> Any:
        # Outside Starlette's ServerErrorMiddleware, so a 500 carries the id and is counted.
        return RequestMiddleware(build_stack(), metrics=settings.metrics_enabled)

    app.build_middleware_stack = build_outermost  # type: ignore[method-assign]
    app.state.rate_limiter = limiter = RateLimiter(settings.rate_limit_per_minute)
    app.add_middleware(IdempotencyMiddleware, settings=settings)
    app.add_middleware(AuthMiddleware, settings=settings, limiter=limiter)  # runs first
