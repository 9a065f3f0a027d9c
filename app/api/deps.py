"""Dependencies shared by the routers, as Annotated aliases."""

from collections.abc import AsyncIterator, Iterator
from typing import Annotated
from urllib.parse import unquote_to_bytes

import anyio
from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.api.middleware.auth import require_scope
from app.config import Settings
from app.errors import InvalidInput, UriTooLong
from app.ingest import FetchContext

# Room for any real query: a 2,048-character `url` (the longest parameter), percent-encoded
# UTF-8, is 24 KiB at the very most.
MAX_QUERY_BYTES = 32 * 1024


def get_write_session(request: Request) -> Iterator[Session]:
    """A session committed when the route returns, before the response is sent."""
    with request.app.state.write_sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A read session for the request: made on the event loop (no I/O until the first query)
    and closed on a worker thread only if it used a connection, so a read costs one thread
    hop (the route) instead of three. Nothing to commit: it only reads."""
    session: Session = request.app.state.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):  # a client that hangs up still frees it
                await run_in_threadpool(session.close)
        else:
            session.close()


def get_fetch_context(request: Request) -> FetchContext:
    context: FetchContext = request.app.state.fetch_context
    return context


async def check_query_string(request: Request) -> None:
    """Refuse query strings that are huge, not UTF-8 once percent-decoded, or carry NUL (which
    Postgres text cannot hold): one check for every parameter of every route."""
    raw: bytes = request.scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_BYTES:
        raise UriTooLong(f"query string is {len(raw)} bytes; the limit is {MAX_QUERY_BYTES}")
    decoded = unquote_to_bytes(raw.replace(b"+", b" "))
    if b"\x00" in decoded:
        raise InvalidInput("query string contains NUL (%00), which is not allowed")
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"query string is not valid UTF-8 once percent-decoded (byte {exc.start})"
        ) from None


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def restore_flag(
    request: Request,
    restore: Annotated[
        bool,
        Query(
            description="Store articles even if they were deleted before (lifts the "
            "tombstone). Undoes a takedown, so it needs the `admin` scope, as deleting does."
        ),
    ] = False,
) -> bool:
    """`?restore=true`, allowed only to keys that may delete (403 otherwise)."""
    if restore:
        require_scope(request.scope, "admin", "?restore=true (undoing a takedown)")
    return restore


# scope="function": the commit runs before the response is sent, so a failed commit
# reaches the client as an error rather than after a success was already reported.
ReadSession = Annotated[Session, Depends(get_session, scope="function")]
WriteSession = Annotated[Session, Depends(get_write_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
# Ids are Postgres `integer`s: anything outside 1..2^31-1 names no article (a 422, not a 500).
ArticleId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The article's id.")]
FetchCtx = Annotated[FetchContext, Depends(get_fetch_context)]
Restore = Annotated[bool, Depends(restore_flag)]
