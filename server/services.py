"""Everything a request or the ingest worker needs, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.topics import Topics
from server.alerts import AlertHook, no_hook
from server.auth import TokenSigner
from server.clock import Clock
from server.db.engine import Database
from server.ingest.mqtt import Publisher
from server.metrics import Metrics
from server.settings import Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    metrics: Metrics
    topics: Topics
    signer: TokenSigner
    publisher: Publisher
    clock: Clock
    # Runs in the transaction of every case change made through the API (notifications).
    on_alerts: AlertHook = no_hook
