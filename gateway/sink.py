"""What adapters hand events to: the outbox writer, or anything with the same shape."""

from __future__ import annotations

from typing import Protocol

from gateway.outbox import Incoming
from gateway.store import AppendCallback


class EventSink(Protocol):
    def submit(self, item: Incoming, done: AppendCallback | None = None) -> None: ...
