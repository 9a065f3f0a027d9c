"""The request middleware: request id, one access-log line and the HTTP metrics per request;
and `GET /metrics`.

A plain ASGI callable rather than BaseHTTPMiddleware, which would buffer streamed responses
and get in the way of streamed request bodies: this one only watches `send`.
"""

import logging
import re
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.logs import request_id_var
from app.observability.metrics import exposition, observe_request

access_log = logging.getLogger("app.access")

HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
LATE_STATUS = "late_status"


def set_late_status(scope: Scope, status: int) -> None:
    """Record how a streamed response really ended, after its status line went out as 200:
    an error sent as its last line, or 499 when the client hung up. Logs and metrics count
    this status; an Idempotency-Key does not keep such a response."""
    scope.setdefault("state", {})[LATE_STATUS] = status


def late_status(scope: Scope) -> int | None:
    status: int | None = scope.get("state", {}).get(LATE_STATUS)
    return status


def request_id_from(scope: Scope) -> str:
    """The client's X-Request-ID when it is sane, otherwise a new one."""
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode("ascii") if _SANE_ID.fullmatch(value) else uuid.uuid4().hex
    return uuid.uuid4().hex


def route_of(scope: Scope, root_path: str) -> str:
    """The matched route's template (`/v1/articles/{article_id}`), or "unmatched".

    FastAPI leaves the template with every include prefix in its (private) effective route
    context, and the APIRoute in `scope["route"]`; plain Starlette routes (/openapi.json,
    mounts) leave neither, so those are matched again on a clean copy of the request.
    """
    context = scope.get("fastapi", {}).get("effective_route_context")
    for candidate in (context, scope.get("route")):
        if template := getattr(candidate, "path_format", None):
            return str(template)
    probe = {key: scope.get(key) for key in ("type", "path", "method", "headers")}
    probe["root_path"] = root_path  # as it was before a Mount extended it
    for route in getattr(scope.get("app"), "routes", ()):
        template = getattr(route, "path_format", None)
        try:
            if template and route.matches(probe)[0] is not Match.NONE:
                return str(template)
        except Exception:  # a label is not worth failing a request that was answered
            continue
    return "unmatched"


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: bool = True) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        root_path = scope.get("root_path", "")
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500  # what the client gets if the app fails before answering
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            status = late_status(scope) or status
            self._finish(scope, root_path, status, time.perf_counter() - start)
        # Reset only on success: after an error the server logs the traceback in this same
        # context, and that line should carry the id too.
        request_id_var.reset(token)

    def _finish(self, scope: Scope, root_path: str, status: int, seconds: float) -> None:
        route = route_of(scope, root_path)
        if self.metrics:
            observe_request(scope["method"], route, status, seconds)
        client: Any = scope.get("client")
        access_log.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
            },
        )


def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format (0.0.4 unless the scraper asks for OpenMetrics or 1.0.0)."""
    for refresh in getattr(request.app.state, "metrics_refreshers", ()):
        refresh()  # gauges read from the database (e.g. the job queue's depth)
    body, content_type = exposition(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})
