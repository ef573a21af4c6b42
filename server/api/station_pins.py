"""Staff PINs for a station's kiosk, set by an admin whose scope covers the station.

The PIN is checked (4 to 8 digits, not a repeated digit or a run) and hashed here
(``protocol.pins``); only the hash travels, as a ``set_pin`` command to the gateway, which keeps
it so staff can sign in with no link. The command row keeps the hash redacted. The gateway's
answer is read back with ``GET /api/v1/commands/{id}``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol.errors import ProtocolError
from protocol.pins import MAX_NAME, check_pin, check_staff_name, hash_pin
from server.api.bounds import ONE_LINE, GatewayId
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.commands import Command, new_command
from server.data.gateways import gateway_in_scope
from server.db.models import CommandRow
from server.errors import Invalid, NotFound
from server.publish import dumps
from server.scope import Scope, require_admin
from server.services import Services

log = logging.getLogger(__name__)

router = APIRouter(tags=["gateways"], responses=ERRORS)
REDACTED = "(hash sent to the gateway; not kept)"
StaffName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=ONE_LINE)]


class PinIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"pin": "805931"}})
    pin: Annotated[str, StringConstraints(min_length=1, max_length=8)] = Field(
        description="4 to 8 digits; not one repeated digit, not a run such as 1234"
    )


class PinCommandOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"command": "3f0c1b9e-8e44-4a53-9d0e-0b7f5a1c2d3e", "gateway": "gw-dongcun-01",
                        "name": "王芳", "op": "set_pin"}
        }
    )
    command: str = Field(description="read the gateway's answer with GET /api/v1/commands/{command}")
    gateway: str
    name: str
    op: str


def _name(name: str) -> str:
    try:
        return check_staff_name(name)
    except ProtocolError as exc:
        raise Invalid(exc.detail, reason=exc.reason) from None


def _send(
    svc: Services, scope: Scope, gateway_id: str, op: str, name: str, pin_hash: str | None
) -> PinCommandOut:
    require_admin(scope)
    args = {"name": name, "by": scope.username}
    with svc.db.write() as session:
        # Outside the caller's subtree (or at no station, for all but whole-tree admins) the
        # gateway does not exist for them.
        gw = gateway_in_scope(session, scope, gateway_id)
        if gw is None:
            raise NotFound("gateway %s not found" % gateway_id)
        cmd: Command = new_command(session, gw.id, op, {**args, "hash": pin_hash} if pin_hash else args,
                                   scope.username, svc.clock())
        if pin_hash:
            # The row is still pending: it is written once, with the hash left out.
            for row in session.new:
                if isinstance(row, CommandRow) and row.id == cmd.payload["id"]:
                    row.payload = {**cmd.payload, "hash": REDACTED}
    # Recorded first, published after the commit: the gateway's answer always finds its command.
    svc.publisher.publish(svc.topics.cmd(gateway_id), dumps(cmd.payload))
    svc.metrics.inc("commands_published")
    log.info("%s for %s at %s sent by %s", op, name, gateway_id, scope.username)
    return PinCommandOut(command=cmd.payload["id"], gateway=gateway_id, name=name, op=op)


@router.put(
    "/gateways/{gateway_id}/pins/{name}",
    response_model=PinCommandOut,
    status_code=202,
    summary="Set a staff member's kiosk PIN at the station (admins whose scope covers it)",
)
def set_pin(
    gateway_id: GatewayId, name: StaffName, body: PinIn, svc: ServicesDep, scope: ScopeDep
) -> PinCommandOut:
    try:
        pin = check_pin(body.pin)
    except ProtocolError as exc:
        raise Invalid(exc.detail, reason=exc.reason) from None
    return _send(svc, scope, gateway_id, "set_pin", _name(name), hash_pin(pin))


@router.delete(
    "/gateways/{gateway_id}/pins/{name}",
    response_model=PinCommandOut,
    status_code=202,
    summary="Remove a staff member's kiosk PIN at the station",
)
def remove_pin(gateway_id: GatewayId, name: StaffName, svc: ServicesDep, scope: ScopeDep) -> PinCommandOut:
    return _send(svc, scope, gateway_id, "remove_pin", _name(name), None)
