"""Liveness and readiness probes."""

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import ReadSession

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Process is up")
async def healthz() -> dict[str, str]:
    """Always 200 while the process serves requests."""
    # async: answered on the event loop, so it stays quick while every worker thread waits
    # on a database or upstream site that does not answer.
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database is reachable",
    responses={503: {"description": "Database unreachable."}},
)
def readyz(session: ReadSession) -> Any:
    """200 when a trivial query succeeds, 503 otherwise."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return {"status": "ok", "database": "reachable"}
