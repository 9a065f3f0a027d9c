"""Reading a response body within a byte budget, and deciding whether it is HTML."""

import zlib

from app.errors import UpstreamError

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ACCEPT_ENCODING = "gzip, deflate"  # only what BoundedBody can decode under a budget
_STEP = 64 * 1024


class BoundedBody:
    """Accumulates a body, decoding Content-Encoding incrementally, never past `limit` + 1.

    httpx's own decoders expand each network chunk whole (64 KiB of a gzip bomb is ~64 MB)
    before anyone can count; here zlib's `max_length` decodes in small steps and stops at
    the budget.
    """

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        self._limit = limit
        self._decoder = _decoder_for(content_encoding)
        # Compressed input is capped too (with slack for incompressible data), so a stream
        # that decodes to nothing cannot be fed forever.
        self._raw_limit = limit if self._decoder is None else limit + limit // 64 + 1024
        self._raw = 0
        self._body = bytearray()

    def check_declared(self, content_length: str | None) -> None:
        """Fail before reading when Content-Length already exceeds the budget."""
        declared = (content_length or "").strip()
        if declared.isdigit() and int(declared) > self._raw_limit:
            raise self._too_large()

    def feed(self, raw: bytes) -> None:
        self._raw += len(raw)
        if self._raw > self._raw_limit:
            raise self._too_large()
        if self._decoder is None:
            self._append(raw)
            return
        try:
            while raw:
                # Small steps: one over-budget step is all a bomb can ever add to memory.
                room = min(self._limit - len(self._body) + 1, _STEP)
                self._append(self._decoder.decompress(raw, room))
                raw = self._decoder.unconsumed_tail
        except zlib.error as exc:
            raise UpstreamError(f"corrupt compressed body: {exc}", reason="bad-encoding") from exc

    @property
    def body(self) -> bytes:
        return bytes(self._body)

    def _append(self, chunk: bytes) -> None:
        self._body += chunk
        if len(self._body) > self._limit:
            raise self._too_large()

    def _too_large(self) -> UpstreamError:
        return UpstreamError(f"body larger than {self._limit} bytes", reason="too-large")


def _decoder_for(content_encoding: str | None) -> "zlib._Decompress | None":
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip framing, auto-detected
    raise UpstreamError(f"unsupported Content-Encoding {encoding!r}", reason="bad-encoding")


def parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    """(media type, charset) of a Content-Type header, lower-cased; None where absent."""
    if not value or not value.split(";")[0].strip():
        return None, None
    media, *params = (part.strip() for part in value.split(";"))
    charset = None
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip("\"'").lower() or None
    return media.lower(), charset


def looks_like_html(body: bytes) -> bool:
    """Sniff a body that came without a Content-Type."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith(b"<!doctype html") or b"<html" in head
