"""Seed files (JSON): regions, stations, gateways, devices, users; upsert by key, idempotent."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.auth import hash_password, verify_password
from server.db.models import LEVELS, Device, Gateway, Region, Station, User, utcnow
from server.errors import Invalid
from server.scope import ROLES
from server.settings import check_password

log = logging.getLogger(__name__)

REGION_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")


def load_seed_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Invalid("cannot read seed file %s: %s" % (path, exc), reason="bad_seed") from None
    if not isinstance(data, dict):
        raise Invalid("seed file %s is not a JSON object" % path, reason="bad_seed")
    return data


def region_by_path(session: Session, path: str | None) -> Region | None:
    if path is None:
        return None
    region = session.scalars(select(Region).where(Region.path == path)).one_or_none()
    if region is None:
        raise Invalid("unknown region %r" % path, reason="unknown_region")
    return region


def upsert_region(
    session: Session, path: str, name: str, level: str, geometry: dict[str, Any] | None = None
) -> Region:
    codes = path.split("/")
    if not all(REGION_CODE.fullmatch(c) for c in codes):
        raise Invalid("bad region path %r (codes: letters, digits, '-')" % path, reason="bad_region")
    if level not in LEVELS:
        raise Invalid("bad level %r, one of %s" % (level, ", ".join(LEVELS)), reason="bad_region")
    if LEVELS.index(level) != len(codes) - 1:
        raise Invalid(
            "a %s sits at depth %d, %r has depth %d" % (level, LEVELS.index(level) + 1, path, len(codes)),
            reason="bad_region",
        )
    parent = region_by_path(session, "/".join(codes[:-1])) if len(codes) > 1 else None
    region = session.scalars(select(Region).where(Region.path == path)).one_or_none()
    if region is None:
        region = Region(path=path, code=codes[-1])
        session.add(region)
    region.name = name
    region.level = level
    region.parent_id = parent.id if parent is not None else None
    if geometry is not None:
        region.geometry = geometry
    session.flush()
    return region


def apply_seed(session: Session, data: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    # Parents before children, whatever order the file lists them in.
    for item in sorted(data.get("regions", []), key=lambda r: str(r["path"]).count("/")):
        upsert_region(session, item["path"], item["name"], item["level"], item.get("geometry"))
    counts["regions"] = len(data.get("regions", []))
    for item in data.get("stations", []):
        st = session.scalars(select(Station).where(Station.code == item["code"])).one_or_none()
        if st is None:
            st = Station(code=item["code"])
            session.add(st)
        st.name = item["name"]
        region = region_by_path(session, item.get("region"))
        st.region_id = region.id if region is not None else None
        st.lat, st.lon, st.address = item.get("lat"), item.get("lon"), item.get("address")
        session.flush()
    counts["stations"] = len(data.get("stations", []))
    for item in data.get("gateways", []):
        gw = session.get(Gateway, item["id"]) or Gateway(id=item["id"])
        session.add(gw)
        station = (
            session.scalars(select(Station).where(Station.code == item["station"])).one_or_none()
            if item.get("station")
            else None
        )
        if item.get("station") and station is None:
            raise Invalid(
                "gateway %s: unknown station %r" % (item["id"], item["station"]), reason="unknown_station"
            )
        gw.station_id = station.id if station is not None else None
        session.flush()
    counts["gateways"] = len(data.get("gateways", []))
    for item in data.get("devices", []):
        dev = session.get(Device, item["id"]) or Device(id=item["id"])
        session.add(dev)
        dev.gateway_id = item.get("gateway")
        dev.model = item.get("model")
        dev.name = item.get("name")
        region = region_by_path(session, item.get("region"))
        dev.region_id = region.id if region is not None else None
        dev.lat, dev.lon, dev.address = item.get("lat"), item.get("lon"), item.get("address")
        if "holder_contact" in item:
            dev.holder_contact = item["holder_contact"]
        session.flush()
    counts["devices"] = len(data.get("devices", []))
    for item in data.get("users", []):
        region = region_by_path(session, item.get("region"))
        ensure_user(session, item["username"], item["password"], item["role"], region)
    counts["users"] = len(data.get("users", []))
    return counts


def ensure_user(session: Session, username: str, password: str, role: str, region: Region | None) -> User:
    if role not in ROLES:
        raise Invalid("bad role %r, one of %s" % (role, ", ".join(ROLES)), reason="bad_role")
    check_password(password, "password of %s" % username)
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        user = User(
            username=username, password_hash=hash_password(password), created_at=utcnow(), active=True
        )
        session.add(user)
    elif not verify_password(password, user.password_hash):
        user.password_hash = hash_password(password)
    user.role = role
    user.region_id = region.id if region is not None else None
    session.flush()
    return user
