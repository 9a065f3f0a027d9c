"""Parsing import chunks in worker processes, beside the server's write thread.

A long NDJSON import is CPU-bound twice over: parsing (seed text, HTML extraction, hashes,
near-duplicate signatures) and writing. In one process both contend for the GIL, and the
write thread waits at every hop. A worker process parses chunk n+1 while the server writes
chunk n. Only parsing moves: URL fetches stay in the server, which owns the fetch pool, the
per-host slots and the validators of earlier fetches.

Written on the standard library's ProcessPoolExecutor: what it adds (a lazy start, a worker
that ends with its server, a fallback to parsing in the server) is specific to this service.
"""

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from app.ingest.prepare import FetchContext, Item, prepare, prepare_all, wants_fetch

log = logging.getLogger(__name__)

_FAILURES = (BrokenProcessPool, OSError, RuntimeError)


def _watch_parent(parent: int) -> None:
    """Worker initializer: end this worker when its server is gone. A server killed with
    SIGKILL cannot shut its pool down, and its worker would otherwise live on."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def prepare_offline(raws: Sequence[Any]) -> list[Any]:
    """In a worker: every item prepared but the URLs to fetch, which come back as they were."""
    return [raw if wants_fetch(raw) else prepare(raw, None) for raw in raws]


class PreparePool:
    """Worker processes that prepare import chunks. Started at the first chunk given to it
    (an import of one chunk never pays for a process start); if a worker dies or cannot
    start, the chunk is prepared in the server and the next chunk starts new workers."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def prepare_all(self, raws: Sequence[Any], context: FetchContext | None) -> list[Item]:
        """Like ingest.prepare_all, in order; the parsing done in the workers."""
        return prepare_all(self._offline(raws), context)

    def _offline(self, raws: Sequence[Any]) -> Sequence[Any]:
        executor = None
        try:
            executor = self._started()
            size = -(-len(raws) // self.processes)  # contiguous parts, one per worker
            parts: list[Future[list[Any]]] = [
                executor.submit(prepare_offline, raws[i : i + size])
                for i in range(0, len(raws), size)
            ]
            return [item for part in parts for item in part.result()]
        except _FAILURES as exc:
            log.warning("prepare process failed (%s): this chunk is prepared in the server", exc)
            self._discard(executor)
            return raws

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),  # no threads copied
                    initializer=_watch_parent,
                    initargs=(os.getpid(),),
                )
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor | None) -> None:
        with self._lock:
            if executor is not None and self._executor is executor:
                self._executor = None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
