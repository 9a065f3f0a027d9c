"""Running one chunk of an import job, in a worker: its items go through the batch pipeline
synchronous imports use (decode, fetch URL items, extract, store), and each item's result is
written in the transaction that stores its article. A worker killed midway therefore leaves
a chunk's items either stored with their results or neither; the retried task skips the
items that have results, so every item is stored exactly once."""

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from anyio.to_thread import run_sync
from sqlalchemy.orm import Session, sessionmaker

from app.db import session_scope
from app.feeds.politeness import turns_for
from app.ingest import Outcome
from app.ingest.batch import Importer
from app.jobs.runtime import JobRuntime
from app.models import utcnow
from app.observability import record_outcomes
from app.repositories.import_jobs import ImportJobRepository

log = logging.getLogger(__name__)
GAVE_UP = "not imported: the import of this item failed repeatedly (see the server log)"


@dataclass(frozen=True)
class Claimed:
    job_id: int
    first: int
    count: int
    restore: bool
    pending: list[tuple[int, bytes]]  # (position, payload) of the items without a result


async def run_chunk(work: JobRuntime, chunk_id: int, last_attempt: bool) -> str | None:
    """Store the chunk's items that have no result yet; the chunk's final status, or None
    when there was nothing to do (cancelled, or finished by an earlier attempt)."""
    claimed = await run_sync(_claim, work.write_sessions, chunk_id)
    if claimed is None:
        return None
    positions = [position for position, _ in claimed.pending]

    def record(session: Session, start: int, outcomes: list[Outcome]) -> None:
        repo = ImportJobRepository(session)
        repo.record(claimed.job_id, _results(positions[start:], outcomes))
        repo.recount_range(claimed.job_id, chunk_id, claimed.first, claimed.count)

    async def reported(_start: int, outcomes: list[Outcome]) -> None:
        record_outcomes(outcomes)

    importer = Importer(
        work.write_sessions,
        # URL items are background fetches: their hosts' politeness holds across workers
        replace(work.fetch, request_slot=turns_for(work)),
        chunk_size=work.settings.import_chunk_size,
        restore=claimed.restore,
        record=record,
    )
    status = "done"
    try:
        await importer.run(_payloads(claimed.pending), reported)
    except Exception:
        if not last_attempt:
            raise  # retried later, from the first item without a result
        log.exception("import chunk %s failed for good", chunk_id)
        await run_sync(_give_up, work.write_sessions, chunk_id)
        status = "failed"
    await run_sync(_finish, work.write_sessions, chunk_id, status)
    return status


async def _payloads(pending: Sequence[tuple[int, bytes]]) -> AsyncIterator[bytes]:
    for _, payload in pending:
        yield payload


def _results(positions: Sequence[int], outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return [
        {
            "position": position,
            "status": outcome.status,
            "article_id": outcome.article_id,
            "error": outcome.error,
        }
        for position, outcome in zip(positions, outcomes, strict=False)
    ]


def _claim(write_sessions: sessionmaker[Session], chunk_id: int) -> Claimed | None:
    with session_scope(write_sessions) as session:
        repo = ImportJobRepository(session)
        claimed = repo.claim(chunk_id, utcnow())
        if claimed is None:
            return None
        chunk, restore = claimed
        return Claimed(
            chunk.job_id, chunk.first_position, chunk.item_count, restore, repo.pending(chunk)
        )


def _give_up(write_sessions: sessionmaker[Session], chunk_id: int) -> None:
    with session_scope(write_sessions) as session:
        give_up(session, chunk_id)


def give_up(session: Session, chunk_id: int) -> None:
    """An error result for each item of the chunk still without one (its last attempt
    failed, or its task is gone), then the chunk failed."""
    repo = ImportJobRepository(session)
    chunk = repo.get_chunk(chunk_id)
    if chunk is None:
        return
    left = [position for position, _ in repo.pending(chunk)]
    failed = [
        {"position": p, "status": "error", "article_id": None, "error": GAVE_UP} for p in left
    ]
    repo.record(chunk.job_id, failed)
    repo.recount_range(chunk.job_id, chunk_id, chunk.first_position, chunk.item_count)


def _finish(write_sessions: sessionmaker[Session], chunk_id: int, status: str) -> None:
    with session_scope(write_sessions) as session:
        ImportJobRepository(session).finish(chunk_id, status, utcnow())
