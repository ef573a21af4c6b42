"""What the link puts on its inbox: one typed item per paho callback."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection; subscriptions have been requested."""

    session_present: bool


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The broker granted every subscription: messages for them now reach this client."""


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    received: float  # the link's clock (monotonic) at reception, for latency figures


LinkEvent = Connected | Subscribed | Disconnected | Received
