"""Values every JSON reader takes: valid UTF-8 text and finite numbers.

Ingest refuses anything else, but a row stored before that rule, or a status a gateway sent,
must still be readable, publishable and listable: ``scrub`` turns lone surrogates into U+FFFD
and non-finite numbers into null, and returns clean values unchanged (no copy).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: str) -> str:
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = _text(key) if isinstance(key, str) else key
            new_item = scrub(item)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if isinstance(value, list):
        items = [scrub(item) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def printable(text: str, limit: int = 400) -> str:
    """Text any column and any JSON reader takes: valid UTF-8, no NUL, bounded."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON that never fails on a value JSON cannot carry."""
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return json.dumps(scrub(obj), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
