"""Accepting a background import: the body's items are spooled into the database as they are
read (a transaction per chunk, so memory stays flat however long the body), then the job is
queued and one job-queue task per chunk deferred, all in one transaction. A body that cannot
be read to its end (over a limit, cut off, a key revoked meanwhile) leaves no job behind."""

import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence

import anyio
from anyio.to_thread import run_sync
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.errors import InvalidInput
from app.import_jobs import CHUNK_TASK
from app.jobs.defer import Deferrer
from app.models import utcnow
from app.repositories.import_jobs import ImportJobRepository

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[None]]


async def accept_import(
    write_sessions: sessionmaker[Session],
    deferrer: Deferrer,
    items: AsyncIterable[bytes],
    *,
    owner: str,
    restore: bool,
    chunk_size: int,
    check: Check | None = None,
) -> int:
    """Spool `items` (each a JSON value's bytes) into a new job and queue it; its id.
    `check` runs before each chunk is written (a revoked key stops the upload)."""
    job_id = await run_sync(_open, write_sessions, owner, restore)
    try:
        total = 0
        batch: list[bytes] = []
        async for item in items:
            batch.append(item)
            if len(batch) >= chunk_size:
                total = await _spool(write_sessions, job_id, total, batch, check)
                batch = []
        if batch:
            total = await _spool(write_sessions, job_id, total, batch, check)
        if not total:
            raise InvalidInput("the body has no items")
        await run_sync(_queue, write_sessions, deferrer, job_id, total, chunk_size)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run_sync(_discard, write_sessions, job_id)
        raise
    return job_id


async def _spool(
    write_sessions: sessionmaker[Session],
    job_id: int,
    first: int,
    batch: Sequence[bytes],
    check: Check | None,
) -> int:
    if check is not None:
        await check()
    await run_sync(_add, write_sessions, job_id, first, batch)
    return first + len(batch)


def _open(write_sessions: sessionmaker[Session], owner: str, restore: bool) -> int:
    with session_scope(write_sessions) as session:
        return ImportJobRepository(session).open(owner, restore, utcnow()).id


def _add(
    write_sessions: sessionmaker[Session], job_id: int, first: int, batch: Sequence[bytes]
) -> None:
    with session_scope(write_sessions) as session:
        ImportJobRepository(session).add_items(job_id, first, batch)


def _queue(
    write_sessions: sessionmaker[Session], deferrer: Deferrer, job_id: int, total: int, size: int
) -> None:
    """The job's chunks, their tasks and its `queued` state: one transaction."""
    with session_scope(write_sessions) as session:
        repo = ImportJobRepository(session)
        chunks = repo.add_chunks(job_id, total, size)
        for chunk in chunks:
            chunk.queue_job_id = deferrer.defer(session, CHUNK_TASK, {"chunk_id": chunk.id})
        repo.queue(job_id, total, len(chunks))


def _discard(write_sessions: sessionmaker[Session], job_id: int) -> None:
    try:
        with session_scope(write_sessions) as session:
            ImportJobRepository(session).discard(job_id)
    except Exception:  # the upload's own error matters more; the reaper removes it later
        log.warning("import job %s not discarded", job_id, exc_info=True)
