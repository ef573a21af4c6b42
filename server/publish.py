"""Publishing duty alerts and gateway commands (always after the commit they describe).

Duty alerts that an alert hook wrote to the outbox (``server.outbox.duty_alert_hook``) are sent
by the outbox relay, which marks them sent on the broker's PUBACK; ``publish_alerts`` leaves
those to it and publishes only alerts no outbox holds (tools and tests run without a relay).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from protocol.topics import Topics
from server.alerts import Alert
from server.metrics import Metrics
from server.safe_json import dumps

log = logging.getLogger(__name__)

__all__ = ["ConfirmingPublisher", "Delivery", "Publisher", "dumps", "publish_alerts"]


class Delivery(Protocol):
    """paho's MQTTMessageInfo, as far as confirming a QoS 1 publish goes."""

    def wait_for_publish(self, timeout: float | None = None) -> None: ...

    def is_published(self) -> bool: ...


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, retain: bool = False) -> object: ...


class ConfirmingPublisher(Protocol):
    """A publisher whose publish says when the broker has the message (the outbox relay's)."""

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> Delivery | None:
        """None: the message is delivered when the call returns."""
        ...


def publish_alerts(publisher: Publisher, topics: Topics, metrics: Metrics, alerts: Sequence[Alert]) -> None:
    for alert in alerts:
        if alert.outbox is not None:
            continue  # committed in the outbox: the relay sends it
        topic = topics.duty_alerts(alert.region_path)
        publisher.publish(topic, dumps(alert.payload))
        metrics.inc("alerts_published")
        log.info("alert %s for case %s on %s", alert.payload["type"], alert.payload["case"]["id"], topic)
