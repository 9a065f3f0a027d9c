"""The batch import pipeline, one for `POST /v1/imports` and for `python -m app import`.

    items ─▶ chunks ─▶ prepare chunk n+1 ─▶ write chunk n ──────▶ on_chunk(start, outcomes)
                       (a thread: decode,    (a thread: one         (in order, as soon as
                        parse, fetch; or      transaction per        the chunk commits)
                        worker processes)     chunk)

Chunk n+1 is prepared (its URLs fetched) while chunk n is written, so the write lock is held
for storing only, and an import killed midway keeps every chunk it committed. At most three
chunks are held at a time (read, prepared, written) and results leave through `on_chunk`, so
memory does not grow with the length of the stream. Before each chunk is written `check` runs:
what it raises (a revoked API key) stops the import after the chunks already committed.

The callers adapt their input and output only: the route reads an HTTP body and streams
results back, the CLI reads files and prints.
"""

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.to_thread import run_sync
from sqlalchemy.orm import Session, sessionmaker

from app.db import checkpoint_if_large, session_scope
from app.errors import InvalidInput
from app.ingest.plan import STATUSES, Outcome
from app.ingest.prepare import FetchContext, Item, prepare_all
from app.ingest.processes import PreparePool
from app.ingest.store import store
from app.parsing.jsondoc import parse_json

OnChunk = Callable[[int, list[Outcome]], Awaitable[None]]
Check = Callable[[], Awaitable[None]]
Prepare = Callable[[Sequence[Any], FetchContext | None], list[Item]]
# Called in each chunk's write transaction, after its items are stored, with the chunk's
# first index and outcomes: a background import writes its results there, so that results
# and articles commit (or vanish) together.
Record = Callable[[Session, int, list[Outcome]], None]


def decode_line(line: bytes | str) -> Any:
    """One NDJSON line as a raw item, or the InvalidInput that is that item's error."""
    try:
        return parse_json(line)
    except InvalidInput as exc:
        return exc  # this item's error; the others still go in


def new_counts() -> dict[str, int]:
    return dict.fromkeys(STATUSES, 0)


def tally(counts: dict[str, int], outcomes: Sequence[Outcome]) -> None:
    for outcome in outcomes:
        counts[outcome.status] += 1


@dataclass
class Importer:
    """Stores raw items: decoded JSON values, or NDJSON lines as bytes (decoded in the prepare
    thread, off the event loop; no decoded JSON value is bytes, so the two cannot be confused)."""

    write_sessions: sessionmaker[Session]
    context: FetchContext | None
    pool: PreparePool | None = None
    chunk_size: int = 500
    restore: bool = False
    record: Record | None = None

    async def run(
        self, items: AsyncIterable[Any], on_chunk: OnChunk, check: Check | None = None
    ) -> int:
        """Store `items` chunk by chunk, each in a transaction of its own; returns how many.
        The first chunk is parsed in this process (an import of one chunk never starts a
        worker); later ones in the pool's worker processes, when there is a pool, so that
        parsing and writing do not take turns on one GIL."""
        writing: asyncio.Future[None] | None = None
        chunk: list[Any] = []
        start, prepare = 0, self._prepare_here
        try:
            async for item in items:
                chunk.append(item)
                if len(chunk) >= self.chunk_size:
                    writing = await self._hand_over(start, chunk, prepare, writing, on_chunk, check)
                    start, chunk = start + len(chunk), []
                    prepare = self._prepare_in_pool if self.pool else self._prepare_here
            if chunk:
                writing = await self._hand_over(start, chunk, prepare, writing, on_chunk, check)
            if writing is not None:
                await writing
            return start + len(chunk)
        finally:
            if writing is not None and not writing.done():
                # The import failed or was cancelled mid-stream: the chunk being written
                # commits (and reports) or rolls back as a whole; wait for it either way.
                with anyio.CancelScope(shield=True):
                    await asyncio.wait([writing])
            if writing is not None and writing.done() and not writing.cancelled():
                writing.exception()  # its error, if any, was raised already or is moot now

    async def store_all(self, raws: Sequence[Any]) -> list[Outcome]:
        """A whole batch prepared, then written in one transaction (the JSON import)."""
        prepared = await run_sync(self._prepare_here, raws, self.context)
        return await run_sync(self._write, prepared)

    async def _hand_over(
        self,
        start: int,
        chunk: list[Any],
        prepare: Prepare,
        writing: "asyncio.Future[None] | None",
        on_chunk: OnChunk,
        check: Check | None,
    ) -> "asyncio.Future[None]":
        """Prepare `chunk` while the previous chunk is written, then start writing it."""
        prepared = await run_sync(prepare, chunk, self.context)
        if writing is not None:
            await writing
        if check is not None:
            await check()
        return asyncio.ensure_future(self._commit(start, prepared, on_chunk))

    async def _commit(self, start: int, prepared: list[Item], on_chunk: OnChunk) -> None:
        outcomes = await run_sync(self._write, prepared, start)
        await on_chunk(start, outcomes)  # at once: a client sees results as chunks commit

    def _prepare_here(self, raws: Sequence[Any], context: FetchContext | None) -> list[Item]:
        return prepare_all(_decoded(raws), context)

    def _prepare_in_pool(self, raws: Sequence[Any], context: FetchContext | None) -> list[Item]:
        assert self.pool is not None
        return self.pool.prepare_all(_decoded(raws), context)

    def _write(self, prepared: list[Item], start: int = 0) -> list[Outcome]:
        """Store prepared items in one transaction (nothing is fetched while it is open)."""
        with session_scope(self.write_sessions) as session:
            outcomes = store(session, prepared, restore=self.restore)
            if self.record is not None:
                self.record(session, start, outcomes)
        checkpoint_if_large(self.write_sessions.kw["bind"])
        return outcomes


def _decoded(raws: Sequence[Any]) -> list[Any]:
    return [decode_line(raw) if isinstance(raw, bytes) else raw for raw in raws]
