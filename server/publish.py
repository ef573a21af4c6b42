"""Publishing duty alerts and gateway commands (always after the commit they describe)."""

from __future__ import annotations

import logging

from protocol.topics import Topics
from server.alerts import Alert
from server.ingest.mqtt import Publisher
from server.metrics import Metrics
from server.safe_json import dumps

log = logging.getLogger(__name__)

__all__ = ["dumps", "publish_alerts"]


def publish_alerts(publisher: Publisher, topics: Topics, metrics: Metrics, alerts: list[Alert]) -> None:
    for alert in alerts:
        topic = topics.duty_alerts(alert.region_path)
        publisher.publish(topic, dumps(alert.payload))
        metrics.inc("alerts_published")
        log.info("alert %s for case %s on %s", alert.payload["type"], alert.payload["case"]["id"], topic)
