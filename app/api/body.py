"""Reading request bodies with size limits, and decoding them by Content-Type."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from app.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from app.parsing import charsets

MAX_JSON_DEPTH = 64
# A full import (1,000 items with 500 related links each) has about 1.3 million.
MAX_JSON_VALUES = 2_000_000
_TOO_DEEP = f"JSON is nested too deeply: at most {MAX_JSON_DEPTH} levels"
_SURROGATE = re.compile("[\ud800-\udfff]")


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


def parse_json(body: bytes | str) -> Any:
    """Decoded JSON; InvalidInput for malformed, non-UTF-8 or absurdly nested documents, and
    for strings no database can store (see `check_json`)."""
    _precount(body)
    try:
        document = json.loads(body)
    except UnicodeDecodeError:
        raise InvalidInput("body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise InvalidInput(_TOO_DEEP) from None
    except ValueError:  # int() refuses numbers of more than 4,300 digits
        raise InvalidInput("body is not valid JSON: a number has too many digits") from None
    check_json(document)
    return document


def _precount(body: bytes | str) -> None:
    """Refuse a document with too many values before decoding it: 64 MB of `[{},{},...]`
    would otherwise become gigabytes of Python objects. Commas and openers bound the number
    of values from above (those inside strings only make the bound looser)."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) < 2 * MAX_JSON_VALUES:
        return
    if raw.count(b",") + raw.count(b"{") + raw.count(b"[") > MAX_JSON_VALUES:
        raise PayloadTooLarge(f"the JSON has more than {MAX_JSON_VALUES} values")


def check_json(document: Any) -> None:
    """Refuse what json.loads accepts but nothing here should: nesting deeper than
    MAX_JSON_DEPTH (an article needs 4 levels; json.loads stops only near the recursion
    limit), more than MAX_JSON_VALUES values (bounds this walk, level by level without
    recursion), and strings with NUL, which Postgres text cannot hold, or lone surrogates,
    which are not Unicode and cannot be encoded."""
    level, depth, count = [document], 0, 0
    while level:
        depth += 1
        below: list[Any] = []
        for value in level:
            if isinstance(value, str):
                if "\x00" in value:
                    raise InvalidInput("a JSON string contains NUL (\\u0000), which is not allowed")
                if not value.isascii() and _SURROGATE.search(value):
                    raise InvalidInput("a JSON string contains a lone surrogate (\\ud800-\\udfff)")
            elif isinstance(value, (dict, list)):  # a tuple: faster than dict | list
                if depth > MAX_JSON_DEPTH:
                    raise InvalidInput(_TOO_DEEP)
                count += len(value)
                if count > MAX_JSON_VALUES:
                    raise PayloadTooLarge(f"the JSON has more than {MAX_JSON_VALUES} values")
                below.extend(value)  # a dict's keys, a list's members
                if isinstance(value, dict):
                    below.extend(value.values())
        level = below
