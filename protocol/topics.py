"""MQTT topic builders and parsers (contract: docs/protocol.md, section 2)."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.errors import ProtocolError
from protocol.ids import check_gateway_id

DEFAULT_PREFIX = "sw/v1"
GATEWAY_CHANNELS = ("events", "ack", "status", "cmd", "cmd/result", "actions", "actions/ack")
SHARE_GROUP = "shouwang"


@dataclass(frozen=True, slots=True)
class GatewayTopic:
    gateway: str
    channel: str  # one of GATEWAY_CHANNELS


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str = DEFAULT_PREFIX
    # The servers' shared-subscription group; the server uses one derived from its secret.
    share_group: str = SHARE_GROUP

    def __post_init__(self) -> None:
        if not self.share_group or any(c in self.share_group for c in "/+#\x00"):
            raise ProtocolError("bad_share_group", repr(self.share_group))

    def gateway(self, gw: str, channel: str) -> str:
        if channel not in GATEWAY_CHANNELS:
            raise ProtocolError("bad_channel", repr(channel))
        return "%s/gw/%s/%s" % (self.prefix, check_gateway_id(gw), channel)

    def events(self, gw: str) -> str:
        return self.gateway(gw, "events")

    def ack(self, gw: str) -> str:
        return self.gateway(gw, "ack")

    def status(self, gw: str) -> str:
        return self.gateway(gw, "status")

    def cmd(self, gw: str) -> str:
        return self.gateway(gw, "cmd")

    def cmd_result(self, gw: str) -> str:
        return self.gateway(gw, "cmd/result")

    def actions(self, gw: str) -> str:
        """Station actions from the kiosk (gateway -> server)."""
        return self.gateway(gw, "actions")

    def actions_ack(self, gw: str) -> str:
        """The server's results for station actions it has committed (server -> gateway)."""
        return self.gateway(gw, "actions/ack")

    def all_gateways(self, channel: str, shared: bool = False) -> str:
        """Wildcard subscription for one channel of every gateway; ``shared`` adds the
        MQTT v5 shared-subscription group so several servers split the load."""
        topic = "%s/gw/+/%s" % (self.prefix, channel)
        return "$share/%s/%s" % (self.share_group, topic) if shared else topic

    def duty_alerts(self, region_path: list[str] | tuple[str, ...]) -> str:
        for level in region_path:
            if not level or any(c in level for c in "/+#\x00"):
                raise ProtocolError("bad_region_code", repr(level))
        path = "/".join(region_path) if region_path else "unassigned"
        return "%s/duty/%s/alerts" % (self.prefix, path)

    def duty_subscription(self, region_path: list[str] | tuple[str, ...]) -> str:
        """What a duty room at this region subscribes to (its whole subtree)."""
        return "%s/duty/%s#" % (self.prefix, "".join(p + "/" for p in region_path))

    def parse_gateway(self, topic: str) -> GatewayTopic:
        head = self.prefix + "/gw/"
        if not topic.startswith(head):
            raise ProtocolError("bad_topic", repr(topic))
        gw, _, channel = topic[len(head) :].partition("/")
        if channel not in GATEWAY_CHANNELS:
            raise ProtocolError("bad_topic", repr(topic))
        return GatewayTopic(check_gateway_id(gw), channel)
