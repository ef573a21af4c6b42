"""Seed files (JSON): regions, stations, gateways, devices, users; upsert by key, idempotent."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from server.clock import system_clock
from server.data.devices import upsert_device
from server.data.gateways import upsert_gateway
from server.data.regions import region_by_path, upsert_region
from server.data.stations import upsert_station
from server.data.users import ensure_user
from server.errors import Invalid

log = logging.getLogger(__name__)


def load_seed_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid("cannot read seed file %s: %s" % (path, exc), reason="bad_seed") from None
    if not isinstance(data, dict):
        raise Invalid("seed file %s is not a JSON object" % path, reason="bad_seed")
    return data


def apply_seed(session: Session, data: dict[str, Any], now: datetime | None = None) -> dict[str, int]:
    """``now`` stamps the users' audit trail (default: the system clock)."""
    try:
        return _apply(session, data, now or system_clock())
    except (KeyError, TypeError, AttributeError) as exc:
        raise Invalid("seed item is incomplete or malformed: %r" % exc, reason="bad_seed") from None


def _apply(session: Session, data: dict[str, Any], now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    # Parents before children, whatever order the file lists them in.
    for item in sorted(data.get("regions", []), key=lambda r: str(r["path"]).count("/")):
        upsert_region(session, item["path"], item["name"], item["level"], item.get("geometry"))
    counts["regions"] = len(data.get("regions", []))
    for item in data.get("stations", []):
        upsert_station(session, item["code"], item)
    counts["stations"] = len(data.get("stations", []))
    for item in data.get("gateways", []):
        upsert_gateway(session, item["id"], item)
    counts["gateways"] = len(data.get("gateways", []))
    for item in data.get("devices", []):
        upsert_device(session, item["id"], item)
    counts["devices"] = len(data.get("devices", []))
    for item in data.get("users", []):
        region = region_by_path(session, item.get("region"))
        ensure_user(session, item["username"], item["password"], item["role"], region, now)
    counts["users"] = len(data.get("users", []))
    return counts
