"""Reading request bodies with size limits, and decoding them by Content-Type."""

from collections.abc import AsyncIterator

from fastapi import Request

from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType


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
    """Non-empty lines of a streamed body, each at most `max_line` bytes."""
    buffer, total = b"", 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > max_total:
            raise PayloadTooLarge(f"request body exceeds the limit of {max_total} bytes")
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        if len(buffer) > max_line:
            raise PayloadTooLarge(f"an NDJSON line exceeds the limit of {max_line} bytes")
        for line in complete:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def decode_text(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset)
    except LookupError:
        raise UnsupportedMediaType(f"unknown charset {charset!r}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"body is not valid {charset}: byte {exc.start} cannot be decoded"
        ) from None
