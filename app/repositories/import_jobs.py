"""Import jobs, their chunks and items: one named query per method. Flush, never commit.

Lock order, so that concurrent transactions of one job never deadlock (Postgres): the job's
row first (`lock`), then its chunks. Claiming a chunk, finishing one and cancelling the job
all take the job's row; writing a chunk's results takes only that chunk's row.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.models import ImportChunk, ImportItem, ImportJob
from app.repositories.jobs import JOB_TABLE

COUNT_NAMES = ("created", "duplicate", "updated", "unchanged", "deleted", "error")
FINISHED = ("done", "failed", "cancelled")
SHOWN = ("queued", "running", *FINISHED)  # `receiving` jobs are not shown


@dataclass(frozen=True)
class JobPage:
    items: Sequence[ImportJob]
    has_more: bool


@dataclass(frozen=True)
class ResultRow:
    position: int
    status: str
    article_id: int | None
    error: str | None


class ImportJobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- reading a body into a job ------------------------------------------------------

    def open(self, owner: str, restore: bool, now: datetime) -> ImportJob:
        """A new job in `receiving` state (invisible until `queue`)."""
        job = ImportJob(owner=owner, restore=restore, created_at=now)
        self.session.add(job)
        self.session.flush()
        return job

    def add_items(self, job_id: int, first: int, payloads: Sequence[bytes]) -> None:
        rows = [
            {"job_id": job_id, "position": first + n, "payload": payload}
            for n, payload in enumerate(payloads)
        ]
        if rows:
            self.session.execute(insert(ImportItem), rows)

    def add_chunks(self, job_id: int, item_count: int, size: int) -> list[ImportChunk]:
        chunks = [
            ImportChunk(
                job_id=job_id, first_position=first, item_count=min(size, item_count - first)
            )
            for first in range(0, item_count, size)
        ]
        self.session.add_all(chunks)
        self.session.flush()
        return chunks

    def queue(self, job_id: int, item_count: int, chunk_count: int) -> None:
        self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(status="queued", item_count=item_count, chunk_count=chunk_count)
        )

    def discard(self, job_id: int) -> None:
        """Delete a job whose body could not be read (its items and chunks go with it)."""
        self.session.execute(delete(ImportItem).where(ImportItem.job_id == job_id))
        self.session.execute(delete(ImportChunk).where(ImportChunk.job_id == job_id))
        self.session.execute(delete(ImportJob).where(ImportJob.id == job_id))

    # -- reads -------------------------------------------------------------------------

    def get(self, job_id: int, owner: str | None) -> ImportJob | None:
        """The job if `owner` (None: anyone, for admins) may see it."""
        query = select(ImportJob).where(ImportJob.id == job_id, ImportJob.status.in_(SHOWN))
        if owner is not None:
            query = query.where(ImportJob.owner == owner)
        return self.session.scalars(query).first()

    def lock(self, job_id: int) -> ImportJob | None:
        """The job as the database has it now, its row locked until the transaction ends."""
        query = (
            select(ImportJob)
            .where(ImportJob.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return self.session.scalars(query).first()

    def counts(self, job_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """Results so far, by job: the sums of its chunks' counts."""
        if not job_ids:
            return {}
        columns = [func.coalesce(func.sum(getattr(ImportChunk, n)), 0) for n in COUNT_NAMES]
        query = (
            select(ImportChunk.job_id, *columns)
            .where(ImportChunk.job_id.in_(job_ids))
            .group_by(ImportChunk.job_id)
        )
        found = {
            row[0]: dict(zip(COUNT_NAMES, row[1:], strict=True))
            for row in self.session.execute(query)
        }
        return {job_id: found.get(job_id, dict.fromkeys(COUNT_NAMES, 0)) for job_id in job_ids}

    def list_page(
        self, *, owner: str | None, status: str | None, before_id: int | None, limit: int
    ) -> JobPage:
        """Newest first, keyset-paginated: jobs with id below `before_id`."""
        query = select(ImportJob).where(ImportJob.status.in_(SHOWN))
        if owner is not None:
            query = query.where(ImportJob.owner == owner)
        if status is not None:
            query = query.where(ImportJob.status == status)
        if before_id is not None:
            query = query.where(ImportJob.id < before_id)
        rows = list(self.session.scalars(query.order_by(ImportJob.id.desc()).limit(limit + 1)))
        return JobPage(items=rows[:limit], has_more=len(rows) > limit)

    def horizon(self, job_id: int) -> int | None:
        """The first position of the job's chunks still queued or running: results before
        it are all written (chunks finish out of order); None when no chunk is left."""
        return self.session.scalar(
            select(func.min(ImportChunk.first_position)).where(
                ImportChunk.job_id == job_id, ImportChunk.status.in_(("queued", "running"))
            )
        )

    def results(
        self, job_id: int, start: int, limit: int, before: int | None = None
    ) -> list[ResultRow]:
        """Items that have a result, in order, from position `start` (up to `before`)."""
        query = select(
            ImportItem.position, ImportItem.status, ImportItem.article_id, ImportItem.error
        ).where(ImportItem.job_id == job_id, ImportItem.status.is_not(None))
        query = query.where(ImportItem.position >= start)
        if before is not None:
            query = query.where(ImportItem.position < before)
        rows = self.session.execute(query.order_by(ImportItem.position).limit(limit))
        return [ResultRow(r.position, r.status, r.article_id, r.error) for r in rows]

    def count_by_status(self) -> dict[str, int]:
        query = select(ImportJob.status, func.count()).group_by(ImportJob.status)
        return {str(status): count for status, count in self.session.execute(query).all()}

    # -- the chunk tasks ---------------------------------------------------------------

    def get_chunk(self, chunk_id: int) -> ImportChunk | None:
        return self.session.get(ImportChunk, chunk_id)

    def claim(self, chunk_id: int, now: datetime) -> tuple[ImportChunk, bool] | None:
        """Mark the chunk running (again, after a crash): the chunk and its job's `restore`
        flag; None if it was cancelled or is finished. The job runs from its first chunk on."""
        job_id = self.session.scalar(select(ImportChunk.job_id).where(ImportChunk.id == chunk_id))
        job = self.lock(job_id) if job_id is not None else None
        if job is None:
            return None
        claimed = self.session.execute(
            update(ImportChunk)
            .where(ImportChunk.id == chunk_id, ImportChunk.status.in_(("queued", "running")))
            .values(status="running", started_at=func.coalesce(ImportChunk.started_at, now))
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.status == "queued")
            .values(status="running", started_at=now)
        )
        chunk = self.session.get(ImportChunk, chunk_id, populate_existing=True)
        return (chunk, job.restore) if chunk is not None else None

    def pending(self, chunk: ImportChunk) -> list[tuple[int, bytes]]:
        """The chunk's items that have no result yet: (position, payload), in order."""
        last = chunk.first_position + chunk.item_count - 1
        query = (
            select(ImportItem.position, ImportItem.payload)
            .where(
                ImportItem.job_id == chunk.job_id,
                ImportItem.position.between(chunk.first_position, last),
                ImportItem.status.is_(None),
            )
            .order_by(ImportItem.position)
        )
        return [(r.position, r.payload or b"") for r in self.session.execute(query)]

    def record(self, job_id: int, results: Sequence[dict[str, Any]]) -> None:
        """Write results (`position`, `status`, `article_id`, `error`) of items that have
        none yet, and drop their payloads."""
        table = ImportItem.__table__
        assert isinstance(table, Table)
        statement = (
            update(table)
            .where(
                and_(
                    table.c.job_id == job_id,
                    table.c.position == bindparam("p"),
                    table.c.status.is_(None),
                )
            )
            .values(
                status=bindparam("s"), article_id=bindparam("a"), error=bindparam("e"), payload=None
            )
        )
        params = [
            {"p": r["position"], "s": r["status"], "a": r["article_id"], "e": r["error"]}
            for r in results
        ]
        if params:
            self.session.connection().execute(statement, params)

    def recount_range(self, job_id: int, chunk_id: int, first: int, count: int) -> None:
        """Set the chunk's counts from its items' results (positions first..first+count-1)."""
        query = (
            select(ImportItem.status, func.count())
            .where(
                ImportItem.job_id == job_id,
                ImportItem.position.between(first, first + count - 1),
                ImportItem.status.is_not(None),
            )
            .group_by(ImportItem.status)
        )
        found = {str(s): n for s, n in self.session.execute(query).all()}
        self.session.execute(
            update(ImportChunk)
            .where(ImportChunk.id == chunk_id)
            .values({name: found.get(name, 0) for name in COUNT_NAMES})
        )

    def finish(self, chunk_id: int, status: str, now: datetime) -> ImportJob | None:
        """Mark the chunk `status` (done or failed); when it was the job's last, finish the
        job (done; failed if a chunk failed; cancelled if a cancel was asked for).
        Returns the job once it is finished."""
        job_id = self.session.scalar(select(ImportChunk.job_id).where(ImportChunk.id == chunk_id))
        job = self.lock(job_id) if job_id is not None else None
        if job is None:
            return None
        self.session.execute(
            update(ImportChunk)
            .where(ImportChunk.id == chunk_id, ImportChunk.status.in_(("queued", "running")))
            .values(status=status, finished_at=now)
        )
        return self._settle(job, now)

    def _settle(self, job: ImportJob, now: datetime) -> ImportJob | None:
        """Finish the (locked) job if none of its chunks is queued or running."""
        query = (
            select(ImportChunk.status, func.count())
            .where(ImportChunk.job_id == job.id)
            .group_by(ImportChunk.status)
        )
        states = {str(status): count for status, count in self.session.execute(query).all()}
        if job.status in FINISHED or states.get("queued") or states.get("running"):
            return None
        if job.cancel_requested:
            job.status = "cancelled"
        else:
            job.status = "failed" if states.get("failed") else "done"
        job.finished_at = now
        self.session.flush()
        return job

    # -- cancelling --------------------------------------------------------------------

    def cancel(self, job: ImportJob, now: datetime) -> list[int]:
        """Cancel the (locked) job's chunks that have not started, drop their items'
        payloads, and finish the job unless a chunk is still running. Returns the queue
        job ids of the chunks cancelled."""
        job.cancel_requested = True
        cancelled = list(
            self.session.execute(
                update(ImportChunk)
                .where(ImportChunk.job_id == job.id, ImportChunk.status == "queued")
                .values(status="cancelled", finished_at=now)
                .returning(
                    ImportChunk.queue_job_id, ImportChunk.first_position, ImportChunk.item_count
                )
            )
        )
        for _, first, count in cancelled:
            self.session.execute(
                update(ImportItem)
                .where(
                    ImportItem.job_id == job.id,
                    ImportItem.position.between(first, first + count - 1),
                    ImportItem.status.is_(None),
                )
                .values(payload=None)
            )
        self._settle(job, now)
        self.session.flush()
        return [queue_id for queue_id, _, _ in cancelled if queue_id is not None]

    # -- upkeep ------------------------------------------------------------------------

    def prune(self, before: datetime) -> int:
        """Delete jobs finished before `before`, and uploads begun before it that never
        completed; their chunks and items go with them. Returns how many jobs."""
        stale = (ImportJob.status.in_(FINISHED) & (ImportJob.finished_at < before)) | (
            (ImportJob.status == "receiving") & (ImportJob.created_at < before)
        )
        ids = list(self.session.scalars(select(ImportJob.id).where(stale).limit(1000)))
        for job_id in ids:
            self.discard(job_id)
        return len(ids)

    def orphaned_chunks(self) -> list[int]:
        """Chunks still queued or running whose task is no longer in the queue to run them
        (it failed for good without recording so, or was removed): ids."""
        live = select(JOB_TABLE.c.id).where(
            JOB_TABLE.c.id == ImportChunk.queue_job_id,
            cast(JOB_TABLE.c.status, String).in_(("todo", "doing")),
        )
        query = select(ImportChunk.id).where(
            ImportChunk.status.in_(("queued", "running")), ~live.exists()
        )
        return list(self.session.scalars(query.limit(1000)))
