"""Every error leaves the service as RFC 9457 application/problem+json."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from app.errors import AppError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    400: "Malformed request (bad JSON, encoding or cursor).",
    401: "No API key, or an unknown or revoked one (`WWW-Authenticate: Bearer`).",
    403: "The site's robots.txt does not allow fetching this URL.",
    404: "No such article.",
    409: "The request does not fit the article's current state.",
    410: "The article was deleted; send it with ?restore=true to store it again.",
    413: "Request body too large.",
    414: "Query string too long.",
    415: "Unsupported Content-Type, or a charset outside the WHATWG Encoding Standard.",
    422: "Input that cannot become an article, or invalid parameters.",
    429: "Too many requests for this API key (or address); retry after the given seconds.",
    502: "Fetching the URL failed upstream (connection, HTTP error, too large).",
    503: "Database unavailable; retry after the given seconds.",
    504: "The upstream site did not answer in time.",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses."""
    return {
        code: {
            "description": _DESCRIPTIONS[code],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}},
        }
        for code in codes
    }


def problem_body(status: int, title: str, detail: str, type_: str, **extra: Any) -> dict[str, Any]:
    body = {"type": f"/problems/{type_}", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if k != "headers"})
    return body


def problem(status: int, title: str, detail: str, type_: str, **extra: Any) -> JSONResponse:
    body = problem_body(status, title, detail, type_, **extra)
    return JSONResponse(body, status, media_type=PROBLEM_JSON, headers=extra.get("headers"))


def _validation_detail(errors: list[dict[str, Any]]) -> str:
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def validation_problem(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    return JSONResponse(validation_body(errors), 422, media_type=PROBLEM_JSON)


def validation_body(errors: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The 422 problem document for pydantic's errors, trimmed to loc, msg and type."""
    clean = [
        {
            "loc": list(e.get("loc", ())),
            "msg": e["msg"].removeprefix("Value error, "),
            "type": e["type"],
        }
        for e in errors
    ]
    return problem_body(
        422, "Invalid request", _validation_detail(clean), "validation-error", errors=clean
    )


def error_body(exc: AppError) -> dict[str, Any]:
    """The problem document one of our exceptions becomes."""
    return problem_body(exc.status, exc.title, exc.detail, exc.type)


def error_response(exc: AppError) -> JSONResponse:
    """The problem response for one of our exceptions."""
    headers = getattr(exc, "headers", None)  # WWW-Authenticate, Retry-After
    return problem(exc.status, exc.title, exc.detail, exc.type, headers=headers)


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return error_response(exc)


async def _request_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(list(exc.errors()))


async def _pydantic_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return validation_problem(
        list(exc.errors(include_url=False, include_context=False, include_input=False))
    )


async def _client_gone(request: Request, _: Exception) -> Response:
    """The client hung up while sending its body: nobody to answer, and nothing failed."""
    log.info("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=499)  # nginx's "client closed request", for logs and metrics


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    return problem(
        exc.status_code, title, str(exc.detail), f"http-{exc.status_code}", headers=exc.headers
    )


# "The database cannot be reached now", not "this request is wrong": refused or reset
# connections, a dead connection reused, no pooled connection free within pool_timeout.
DATABASE_DOWN = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
DATABASE_UNAVAILABLE = (
    503,
    "Service unavailable",
    "the database is unavailable; retry shortly",
    "database-unavailable",
)


async def _database_down(_: Request, exc: Exception) -> JSONResponse:
    return database_unavailable(exc)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """Any other driver error: a 503 when it cost the connection, else a 500."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return database_unavailable(exc)
    return await _unexpected(request, exc)


_INTERNAL_ERROR = (500, "Internal error", "an unexpected error occurred", "internal-error")


def database_unavailable(exc: Exception) -> JSONResponse:
    """The 503 for a database that cannot be reached."""
    log.warning("database unavailable: %s", exc)
    return problem(*DATABASE_UNAVAILABLE, headers={"Retry-After": "5"})


# What a middleware answers itself, before any route (and its exception handlers) runs.
MIDDLEWARE_ERRORS = (AppError, *DATABASE_DOWN)


async def send_problem(exc: Exception, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer from a middleware with the problem+json the handlers would give for `exc` (one
    of MIDDLEWARE_ERRORS): the same body, status and headers wherever the error arose."""
    response = error_response(exc) if isinstance(exc, AppError) else database_unavailable(exc)
    await response(scope, receive, send)


def late_problem(exc: BaseException) -> dict[str, Any]:
    """The problem fields the handlers would answer `exc` with, for an error that comes after
    a streamed response has started (its status line long gone)."""
    if isinstance(exc, AppError):
        return problem_body(exc.status, exc.title, exc.detail, exc.type)
    if isinstance(exc, DATABASE_DOWN) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        log.warning("database unavailable: %s", exc)
        return problem_body(*DATABASE_UNAVAILABLE)
    log.exception("unhandled error", exc_info=exc)
    return problem_body(*_INTERNAL_ERROR)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(*_INTERNAL_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _pydantic_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    for error in DATABASE_DOWN:
        app.add_exception_handler(error, _database_down)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
