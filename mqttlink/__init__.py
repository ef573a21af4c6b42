"""The one MQTT link shared by the gateway and the server.

``BrokerUrl`` parses ``mqtt://`` and ``mqtts://`` URLs once; ``Link`` owns one paho v5 client
(TCP_NODELAY, session properties, reconnect backoff) and turns paho's callbacks into typed
items put on a queue, so no paho thread ever runs application code.
"""

from mqttlink.errors import LinkError, PublishError, UrlError
from mqttlink.events import Connected, Disconnected, LinkEvent, Received, Subscribed
from mqttlink.link import CleanStart, Inbox, Link, Session, Subscription, Will
from mqttlink.url import BrokerUrl

__all__ = [
    "BrokerUrl",
    "CleanStart",
    "Connected",
    "Disconnected",
    "Inbox",
    "Link",
    "LinkError",
    "LinkEvent",
    "PublishError",
    "Received",
    "Session",
    "Subscribed",
    "Subscription",
    "UrlError",
    "Will",
]
