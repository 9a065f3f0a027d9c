"""The HTTP/1.1 protocol that `python -m app serve` gives uvicorn: uvicorn's httptools
protocol (its default), with the errors it answers itself, before the app sees a request,
in problem+json like every other error, and with limits on the request head:

- a request target over MAX_TARGET_BYTES is a 414 (httptools cannot even split a URL of
  64 KiB or more, and uvicorn answered that with a plain-text 400);
- header fields over MAX_HEADER_BYTES in all are a 431 (httptools has no limit of its own,
  so a client could send headers without end, all kept in memory);
- anything else httptools cannot parse is a 400.

Each answer ends the connection, as uvicorn's own 400 does, but with a "lingering close"
(RFC 9112, section 9.6): a client still sending the rest of a huge request would otherwise
get a reset, which can destroy the answer before it reads it. A subclass, because uvicorn
offers no hook for these answers (`--http app.api.server:ProblemHttpToolsProtocol` selects
it when uvicorn is started by hand).
"""

import uuid
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.api.deps import MAX_QUERY_BYTES
from app.api.errors import error_response
from app.errors import AppError, HeadersTooLarge, InvalidInput, UriTooLong

MAX_TARGET_BYTES = MAX_QUERY_BYTES + 8 * 1024  # the longest query any route takes, and a path
MAX_HEADER_BYTES = 32 * 1024  # as nginx's default (4 buffers of 8 KiB); Node allows 16 KiB
LINGER_SECONDS = 5.0  # after a refusal: how long to read (and drop) what the client sends
LINGER_BYTES = 1024 * 1024  # ... and how much of it


class _Refused(Exception):
    """Raised in a parser callback: httptools stops, and uvicorn calls send_400_response."""


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusal: AppError | None = None
        self._in_head = False  # between the first byte of a request and its blank line
        self._header_bytes = 0  # of the header fields parsed so far
        self._pending = 0  # bytes of a header field still arriving (httptools holds them)
        self._progress = False  # a parser callback ran during this data_received
        self._lingering: int | None = None  # bytes still to drop after a refusal

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._progress = True, True
        self._header_bytes = self._pending = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._progress = True
        if len(self.url) > MAX_TARGET_BYTES:
            self._refuse(
                UriTooLong(
                    f"the request target is over {MAX_TARGET_BYTES} bytes; query strings may "
                    f"be up to {MAX_QUERY_BYTES}"
                )
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        self._progress, self._pending = True, 0
        self._header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_bytes > MAX_HEADER_BYTES:
            self._refuse(self._too_large())
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        if self._lingering is not None:
            self._lingering -= len(data)
            if self._lingering <= 0:
                self.transport.close()
            return
        self._progress = False
        super().data_received(data)
        answered = self._lingering is not None or self.transport.is_closing()
        if self._in_head and not self._progress and not answered:
            # No callback ran: all of `data` belongs to one header field still arriving.
            self._pending += len(data)
            if self._header_bytes + self._pending > MAX_HEADER_BYTES:
                self._refusal = self._too_large()
                self.send_400_response("")

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn for any request httptools rejects (and by us for a 431)."""
        error = self._refusal or InvalidInput("the request is not valid HTTP/1.1")
        response = error_response(error)
        head = [STATUS_LINE[response.status_code]]
        headers = [
            *self.server_state.default_headers,
            *response.raw_headers,
            (b"x-request-id", uuid.uuid4().hex.encode("ascii")),
            (b"connection", b"close"),
        ]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        self.transport.write(b"".join(head) + b"\r\n" + response.body)
        self._close_lingering()

    def _close_lingering(self) -> None:
        """Send our end's FIN after the answer, drop what still arrives for a while, then
        close. A response still in progress (a pipelined request before this one) cannot
        be finished anyway: close at once then, as uvicorn does."""
        if (self.cycle and not self.cycle.response_complete) or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._lingering = LINGER_BYTES
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _refuse(self, error: AppError) -> None:
        self._refusal = error
        raise _Refused(error.detail)

    @staticmethod
    def _too_large() -> HeadersTooLarge:
        return HeadersTooLarge(f"the header fields are over {MAX_HEADER_BYTES} bytes in all")
