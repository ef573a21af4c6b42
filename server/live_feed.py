"""The live hub's source: the duty alerts on MQTT, as every server instance publishes them.

Each instance reads the whole duty tree with a subscription of its own (not the shared one
ingest uses), so its consoles hear of changes made by any instance. The session is not kept:
what passes while this client is away is caught up by the consoles re-reading the board when
the feed comes back (the hub tells them).
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from protocol.topics import Topics
from server.live import LiveHub

log = logging.getLogger(__name__)


class DutyFeed:
    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        topics: Topics,
        hub: LiveHub,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.hub = hub
        self.topic = topics.duty_subscription([])
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if login is not None:
            self._client.username_pw_set(*login)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._sub_mid: int | None = None

    def start(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=30, clean_start=True)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self.hub.set_live(False)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("duty feed: MQTT connect to %s:%d refused: %s", self.host, self.port, reason)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _, self._sub_mid = client.subscribe([(self.topic, SubscribeOptions(qos=1))])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if mid != self._sub_mid:
            return
        if any(r.is_failure for r in reasons):
            log.error("duty feed: subscription to %s refused: %s", self.topic, reasons)
            return
        log.info("duty feed: reading %s for the consoles", self.topic)
        self.hub.set_live(True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        log.warning("duty feed: MQTT disconnected: %s", reason)
        self.hub.set_live(False)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.hub.offer(bytes(msg.payload))
