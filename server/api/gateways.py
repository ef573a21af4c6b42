"""Gateways: the station daemons, their status and their broker credentials."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from sqlalchemy.orm import Session

from server.api.bounds import GatewayId, State, StationCode
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, paginate
from server.api.schemas import Credentials, GatewayIn, GatewayOut
from server.data.gateways import gateway_in_scope, gateway_region_path, gateway_view, upsert_gateway
from server.db.models import Gateway, Station
from server.errors import NotFound
from server.mqtt_auth import issue_credentials, write_auth_files
from server.scope import SYSTEM, require_admin, require_destination, require_within
from server.services import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["gateways"], responses=ERRORS)


@router.get("/gateways", response_model=Page[GatewayOut])
def list_gateways(
    svc: ServicesDep,
    scope: ScopeDep,
    station: StationCode | None = None,
    status: State | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[GatewayOut]:
    stmt = gateway_view(scope).order_by(Gateway.id)
    if station is not None:
        stmt = stmt.where(Station.code == station)
    if status is not None:
        stmt = stmt.where(Gateway.status == status)
    with svc.db.read() as s:
        return paginate(s, stmt, GatewayOut, limit, offset)


@router.get("/gateways/{gateway_id}", response_model=GatewayOut)
def read_gateway(gateway_id: GatewayId, svc: ServicesDep, scope: ScopeDep) -> GatewayOut:
    with svc.db.read() as s:
        row = s.execute(gateway_view(scope).where(Gateway.id == gateway_id)).one_or_none()
        if row is None:
            raise NotFound("gateway %s not found" % gateway_id)
        return GatewayOut.model_validate(row)


@router.put(
    "/gateways/{gateway_id}",
    response_model=GatewayOut,
    summary="Register a gateway or move it to another station",
)
def save_gateway(gateway_id: GatewayId, body: GatewayIn, svc: ServicesDep, scope: ScopeDep) -> GatewayOut:
    require_admin(scope)
    what = "gateway %s" % gateway_id
    with svc.db.write() as s:
        if s.get(Gateway, gateway_id) is not None:
            require_within(scope, gateway_region_path(s, gateway_id), what)  # where it is now
        upsert_gateway(s, gateway_id, body.model_dump(exclude_unset=True), scope)
        require_destination(scope, gateway_region_path(s, gateway_id), what)  # where it goes
        row = s.execute(gateway_view(SYSTEM).where(Gateway.id == gateway_id)).one()
        return GatewayOut.model_validate(row)


@router.post(
    "/gateways/{gateway_id}/credentials",
    response_model=Credentials,
    summary="Issue a new broker password for the gateway (shown only once)",
)
def new_credentials(gateway_id: GatewayId, svc: ServicesDep, scope: ScopeDep) -> Credentials:
    require_admin(scope)
    with svc.db.write() as s:
        gateway = gateway_in_scope(s, scope, gateway_id)
        if gateway is None:
            raise NotFound("gateway %s not found" % gateway_id)
        password = issue_credentials(gateway)
        s.flush()
        _write_broker_files(svc, s)
    log.info("new broker credentials for gateway %s issued by %s", gateway_id, scope.username)
    return Credentials(
        username=gateway_id, password=password, topic_prefix="%s/gw/%s" % (svc.topics.prefix, gateway_id)
    )


def _write_broker_files(svc: Services, s: Session) -> None:
    directory = svc.settings.mqtt_auth_dir
    if directory is None:
        return
    login = svc.settings.mqtt_login
    write_auth_files(
        s, directory, svc.topics.prefix, login[0] if login else None, login[1] if login else None
    )
