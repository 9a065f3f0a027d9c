"""The NDJSON import's response: one result line per item as each chunk commits, then a
`{"counts"}` line, or an `{"error"}` line when the import stops after results went out.

Results never wait on the client. Many clients (httpx, requests) send their whole body before
reading any of the response; if storing stopped whenever sending blocked, the server would
stop reading the body, and both sides would wait for each other for ever. So result lines go
to a spool, a temporary file (memory stays flat however many items and however slow the
client), and a sender drains it to the client as fast as the client reads.

Until the first result line exists nothing is sent: an import that fails before committing
anything (a body over the limit, a revoked key, no items) answers with its usual 4xx status.
"""

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.errors import late_problem
from app.api.middleware.auth import authenticate_again
from app.api.middleware.requests import set_late_status
from app.api.request_bodies import lines
from app.errors import InvalidInput
from app.ingest import Outcome
from app.ingest.batch import Importer, new_counts, tally
from app.observability import record_outcomes

NDJSON = "application/x-ndjson"
CLIENT_CLOSED = 499  # nginx's "client closed request"


class Spool:
    """Bytes written by one task and sent by another. Both run on the event loop; the file
    is written and read in small pieces (a chunk's results, 64 KiB), like a socket buffer."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 (close() at the end)
        self._written = self._sent = 0
        self._more = asyncio.Event()
        self._finished = False
        self.used = False  # anything was ever written

    def write(self, data: bytes) -> None:
        self._file.seek(self._written)
        self._file.write(data)
        self._written += len(data)
        self.used = True
        self._more.set()

    def finish(self) -> None:
        """Nothing more will be written."""
        self._finished = True
        self._more.set()

    def close(self) -> None:
        self._file.close()

    async def ready(self) -> None:
        """Wait until something is written or the spool is finished."""
        await self._more.wait()

    async def drain(self, size: int = 64 * 1024) -> AsyncIterator[bytes]:
        """What is written, as it is written, until the spool is finished and empty."""
        while True:
            if self._sent < self._written:
                self._file.seek(self._sent)
                data = self._file.read(min(size, self._written - self._sent))
                self._sent += len(data)
                yield data
            elif self._finished:
                return
            else:
                self._file.truncate(0)  # all sent: start over, so the file stays small
                self._written = self._sent = 0
                self._more.clear()
                await self._more.wait()


def result_line(index: int, outcome: Outcome) -> dict[str, Any]:
    result: dict[str, Any] = {"index": index, "status": outcome.status}
    if outcome.article_id is not None:
        result["id"] = outcome.article_id
    if outcome.error is not None:
        result["error"] = outcome.error
    return result


class ImportStream(Response):
    """The response of an NDJSON import: it runs the import while it answers. Unlike
    StreamingResponse it never calls `receive` itself: the import reads the body."""

    def __init__(self, request: Request, importer: Importer, max_line: int, max_total: int):
        super().__init__(media_type=NDJSON)
        self.request = request
        self.importer = importer
        self.limits = (max_line, max_total)
        self.spool = Spool()
        self.counts = new_counts()
        self.error: Exception | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._produce, scope)
                await self.spool.ready()
                if self.spool.used:
                    await self._send(send, tasks.cancel_scope.cancel)
        finally:
            self.spool.close()
        if not self.spool.used and self.error is not None:
            raise self.error  # nothing committed: the usual error response and status

    async def _produce(self, scope: Scope) -> None:
        """Run the import into the spool; never raises (the error is kept or written)."""
        try:
            items = lines(self.request, *self.limits)
            total = await self.importer.run(
                items, self._results, check=lambda: authenticate_again(scope)
            )
            if not total:
                raise InvalidInput("the NDJSON body has no items")
            self.spool.write(_line({"counts": self.counts}))
        except ClientDisconnect as exc:
            self.error = exc
            if self.spool.used:
                set_late_status(scope, CLIENT_CLOSED)
        except Exception as exc:
            self.error = exc
            if self.spool.used:
                problem = late_problem(exc)
                set_late_status(scope, problem["status"])
                self.spool.write(_line({"error": problem}))
        finally:
            self.spool.finish()

    async def _results(self, start: int, outcomes: list[Outcome]) -> None:
        tally(self.counts, outcomes)
        record_outcomes(outcomes)
        results = (result_line(i, outcome) for i, outcome in enumerate(outcomes, start))
        self.spool.write(b"".join(_line(result) for result in results))

    async def _send(self, send: Send, stop: Callable[[], None]) -> None:
        headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for data in self.spool.drain():
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away (servers on ASGI spec 2.4 say so this way)
            stop()


def _line(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode() + b"\n"
