"""The live hub's source: the duty alerts on MQTT, as every server instance publishes them.

Each instance reads the whole duty tree (not through the shared subscription ingest uses), so its
consoles hear of changes made by any instance. It reads on the instance's one MQTT connection: a
broker that binds client ids to accounts allows one connection per account, and a second one
would take the first one's place. The subscription is QoS 0, so the broker keeps nothing for it
while the server is away; what passes meanwhile is caught up by the consoles re-reading the board
when the feed comes back (the hub tells them).
"""

from __future__ import annotations

from protocol.topics import Topics
from server.ingest.mqtt import Listener, MqttLink
from server.live import LiveHub


def feed_consoles(link: MqttLink, topics: Topics, hub: LiveHub) -> None:
    """Hand every duty alert the link receives to the hub; call before ``link.start()``."""
    link.listen(Listener(topics.duty_subscription([]), hub.offer, hub.set_live))
