"""Commands to a station's gateway (siren, relay, identify, pairing, ...) and their results."""

from __future__ import annotations

from fastapi import APIRouter

from server.api.bounds import CommandId, GatewayId
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.schemas import CommandIn, CommandOut
from server.commands import new_command
from server.data.commands import command_in_scope
from server.data.devices import device_on_gateway
from server.data.gateways import gateway_in_scope
from server.db.models import CommandRow
from server.errors import Forbidden, Invalid, NotFound
from server.publish import dumps

router = APIRouter(tags=["gateways"], responses=ERRORS)

COMMAND_ROLES = frozenset({"admin", "duty_officer", "station_staff"})


@router.post(
    "/gateways/{gateway_id}/commands",
    response_model=CommandOut,
    summary="Send a command (siren, relay, identify, start_pairing, ...) to a station's gateway",
)
def send_command(gateway_id: GatewayId, body: CommandIn, svc: ServicesDep, scope: ScopeDep) -> CommandOut:
    if scope.role not in COMMAND_ROLES:
        raise Forbidden("role %s may not send commands" % scope.role)
    args = body.model_dump(exclude={"op"}, exclude_none=True)
    if body.op in ("start_pairing", "reload_config"):
        args.pop("device", None)  # gateway-wide operations
    with svc.db.write() as s:
        if gateway_in_scope(s, scope, gateway_id) is None:
            raise NotFound("gateway %s not found" % gateway_id)
        device = args.get("device", "gateway")
        if device != "gateway" and not device_on_gateway(s, scope, device, gateway_id):
            # Only the caller's own devices, and only through the gateway they are registered to.
            raise Invalid("unknown device %r on gateway %s" % (device, gateway_id), reason="unknown_device")
        cmd = new_command(s, gateway_id, body.op, args, scope.username, svc.clock())
        s.flush()
        row = s.get(CommandRow, cmd.payload["id"])
        assert row is not None
        out = CommandOut.model_validate(row)
    # Recorded first, published after the commit: a result can always find its command.
    svc.publisher.publish(svc.topics.cmd(gateway_id), dumps(cmd.payload))
    svc.metrics.inc("commands_published")
    return out


@router.get("/commands/{command_id}", response_model=CommandOut)
def read_command(command_id: CommandId, svc: ServicesDep, scope: ScopeDep) -> CommandOut:
    with svc.db.read() as s:
        row = command_in_scope(s, scope, command_id)
        if row is None:
            raise NotFound("command %s not found" % command_id)
        return CommandOut.model_validate(row)
