"""Dependencies shared by the routers, as Annotated aliases."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from app.config import Settings
from app.ingest import FetchContext


def _session(request: Request, write: bool) -> Iterator[Session]:
    factory = request.app.state.write_sessions if write else request.app.state.sessions
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_session(request: Request) -> Iterator[Session]:
    """A read session for the request."""
    yield from _session(request, write=False)


def get_write_session(request: Request) -> Iterator[Session]:
    """A session committed when the route returns, before the response is sent."""
    yield from _session(request, write=True)


def get_fetch_context(request: Request) -> FetchContext:
    context: FetchContext = request.app.state.fetch_context
    return context


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# scope="function": the commit runs before the response is sent, so a failed commit
# reaches the client as an error rather than after a success was already reported.
ReadSession = Annotated[Session, Depends(get_session, scope="function")]
WriteSession = Annotated[Session, Depends(get_write_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
FetchCtx = Annotated[FetchContext, Depends(get_fetch_context)]
Restore = Annotated[
    bool,
    Query(description="Store articles even if they were deleted before (lifts the tombstone)."),
]
