"""Where a device is: its station, its region chain and its location."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Device, Gateway, Region, Station


@dataclass(frozen=True)
class Place:
    device: Device | None = None
    station: Station | None = None
    region: Region | None = None
    chain: list[Region] = field(default_factory=list)  # root .. region

    @property
    def path(self) -> list[str]:
        return [r.code for r in self.chain]

    @property
    def path_text(self) -> str | None:
        return self.region.path if self.region is not None else None

    def location(self) -> dict[str, Any] | None:
        for src in (self.device, self.station):
            if src is not None and src.lat is not None and src.lon is not None:
                return {"lat": src.lat, "lon": src.lon, "address": src.address}
        if self.station is not None and self.station.address:
            return {"lat": None, "lon": None, "address": self.station.address}
        return None


def region_chain(session: Session, region: Region) -> list[Region]:
    parts = region.path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    rows = {r.path: r for r in session.scalars(select(Region).where(Region.path.in_(prefixes)))}
    return [rows[p] for p in prefixes if p in rows]


def resolve_place(session: Session, device_id: str, gateway_id: str | None = None) -> Place:
    """The device's own gateway (not the one that happened to hear it) names its station."""
    device = session.get(Device, device_id)
    gw_id = device.gateway_id if device is not None and device.gateway_id else gateway_id
    gateway = session.get(Gateway, gw_id) if gw_id else None
    station = session.get(Station, gateway.station_id) if gateway is not None and gateway.station_id else None
    region_id = None
    if device is not None:
        region_id = device.region_id if device.region_id is not None else device.grid_id
    if region_id is None and station is not None:
        region_id = station.region_id
    region = session.get(Region, region_id) if region_id is not None else None
    chain = region_chain(session, region) if region is not None else []
    return Place(device=device, station=station, region=region, chain=chain)


def resolve_places(session: Session, devices: dict[str, str | None]) -> dict[str, Place]:
    """``resolve_place`` for every device of a batch (device id -> the gateway that heard it)
    in five queries, however many devices the batch holds."""
    found = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(list(devices))))}
    gw_of = {
        dev_id: (found[dev_id].gateway_id if dev_id in found and found[dev_id].gateway_id else heard)
        for dev_id, heard in devices.items()
    }
    gw_ids = {g for g in gw_of.values() if g}
    gateways = {g.id: g for g in session.scalars(select(Gateway).where(Gateway.id.in_(gw_ids)))}
    st_ids = {g.station_id for g in gateways.values() if g.station_id}
    stations = {s.id: s for s in session.scalars(select(Station).where(Station.id.in_(st_ids)))}
    region_of: dict[str, Any] = {}
    for dev_id in devices:
        device = found.get(dev_id)
        gateway = gateways.get(gw_of[dev_id] or "")
        station = stations.get(gateway.station_id) if gateway is not None and gateway.station_id else None
        region_id = None
        if device is not None:
            region_id = device.region_id if device.region_id is not None else device.grid_id
        if region_id is None and station is not None:
            region_id = station.region_id
        region_of[dev_id] = (device, station, region_id)
    region_ids = {r for _, _, r in region_of.values() if r is not None}
    regions = {r.id: r for r in session.scalars(select(Region).where(Region.id.in_(region_ids)))}
    prefixes: set[str] = set()
    for known in regions.values():
        parts = known.path.split("/")
        prefixes.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    by_path = {r.path: r for r in session.scalars(select(Region).where(Region.path.in_(prefixes)))}
    out: dict[str, Place] = {}
    for dev_id, (device, station, region_id) in region_of.items():
        region = regions.get(region_id) if region_id is not None else None
        chain: list[Region] = []
        if region is not None:
            parts = region.path.split("/")
            chain = [
                by_path[p] for p in ("/".join(parts[: i + 1]) for i in range(len(parts))) if p in by_path
            ]
        out[dev_id] = Place(device=device, station=station, region=region, chain=chain)
    return out
