"""Decoding JSON input (request bodies, NDJSON lines, import files) with the limits every
caller needs: depth, number of values, and strings no database can store."""

import json
import re
from typing import Any

from app.errors import InvalidInput, PayloadTooLarge

MAX_JSON_DEPTH = 64
# A full import (1,000 items with 500 related links each) has about 1.3 million.
MAX_JSON_VALUES = 2_000_000
_TOO_DEEP = f"JSON is nested too deeply: at most {MAX_JSON_DEPTH} levels"
_SURROGATE = re.compile("[\ud800-\udfff]")


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
