"""Reading request bodies with size limits, and decoding them by Content-Type."""

from collections.abc import AsyncIterator

from fastapi import Request

from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from app.parsing import charsets


def media_type(request: Request) -> tuple[str, str]:
    """The request's media type (lower case, no parameters) and its charset (default utf-8)."""
    raw = request.headers.get("content-type", "")
    kind, _, params = raw.partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or charset
    return kind.strip().lower(), charset


def is_json(kind: str) -> bool:
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, refusing (413) anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def lines(request: Request, max_line: int, max_total: int) -> AsyncIterator[bytes]:
    """Non-empty lines of a streamed body, each at most `max_line` bytes. Only each new chunk
    is searched for line ends, and a line's pieces are joined once: a long line dripped in
    tiny chunks must not be copied and rescanned at every chunk (quadratic, on the loop)."""
    pending: list[bytes] = []  # pieces of the line not yet ended
    pending_size = total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_total:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_total} bytes")
        *complete, rest = chunk.split(b"\n")
        if complete:
            complete[0] = b"".join([*pending, complete[0]])
            pending, pending_size = [], 0
        pending.append(rest)
        pending_size += len(rest)
        for line in complete:
            if len(line) > max_line:
                raise PayloadTooLarge(_line_too_long(max_line))
            if line.strip():
                yield line
        if pending_size > max_line:
            raise PayloadTooLarge(_line_too_long(max_line))
    if (last := b"".join(pending)).strip():
        yield last


def _line_too_long(max_line: int) -> str:
    return f"an NDJSON line exceeds the limit of {max_line} bytes"


def decode_text(body: bytes, charset: str) -> str:
    """The body in its declared charset: a label of the WHATWG Encoding Standard (what a web
    page may declare), else a 415 naming it (Python's other codecs, punycode say, are no
    text encoding, and some of them take quadratic time)."""
    encoding = charsets.lookup(charset)
    if encoding is None:
        raise UnsupportedMediaType(
            f"charset {charset!r} is not supported: send UTF-8 or another character set "
            "of the WHATWG Encoding Standard"
        )
    try:
        return charsets.decode(body, encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"body is not valid {charset}: byte {exc.start} cannot be decoded"
        ) from None
