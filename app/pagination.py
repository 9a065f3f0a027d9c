"""Opaque keyset cursors: base64url-encoded JSON, validated strictly when read back."""

import base64
import binascii
import json
import math
from typing import Any

from app.errors import InvalidInput

_MAX_CURSOR = 512
# Ids are `integer` columns: Postgres refuses a larger parameter (SQLAlchemy casts it).
_MAX_ID = 2**31 - 1


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fields: dict[str, type], param: str = "cursor") -> dict[str, Any]:
    """The position a cursor names; InvalidInput unless it has exactly `fields`, typed.
    `param` is the query parameter it came in, named in the error so the caller can find it."""
    refused = f"{param} is not valid: pass back a next_cursor unchanged"
    try:
        if len(cursor) > _MAX_CURSOR:
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput(refused) from None
    if not isinstance(position, dict) or set(position) != set(fields):
        raise InvalidInput(refused)
    for name, kind in fields.items():
        value = position[name]
        if not isinstance(value, kind) or isinstance(value, bool) or not _in_range(value):
            raise InvalidInput(refused)
    return position


def _in_range(value: object) -> bool:
    """Ids are positions from 0 up to _MAX_ID; scores are finite (json.loads reads NaN)."""
    if isinstance(value, int):
        return 0 <= value <= _MAX_ID
    return not isinstance(value, float) or math.isfinite(value)
