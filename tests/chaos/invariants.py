"""What must hold after every fault, checked against the real server database, the devices'
own ack logs and what the duty room received.

1. Every event a device was told is ``stored`` is in the server exactly once.
2. Every alarm (an event of a kind that opens a case) is in exactly one case.
3. Every case has had an alert published at least once, on its own region's duty topic.

``wait_healed`` waits until the system has healed (the three hold and no gateway holds an
undelivered event, so nothing can still arrive twice), then asserts the whole report.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import load_settings
from gateway.errors import GatewayError
from gateway.tools import status_report
from protocol.kinds import OPENS_CASE
from protocol.topics import Topics
from tests.chaos.stack import HEAL_S, ChaosStack, ServerDb

_CASE_KINDS = frozenset(k.value for k in OPENS_CASE)
_TOPICS = Topics()


@dataclass(frozen=True)
class ServerEvent:
    id: str
    gateway: str
    device: str
    device_seq: int | None
    kind: str


@dataclass
class Report:
    """Everything that is wrong; a healed system has an empty report (``Report()``)."""

    # device -> seqs the device sent that the gateway has not acked ``stored`` (a refusal included)
    unacked: dict[str, list[int]] = field(default_factory=dict)
    # device -> seqs the device was told are stored that the server does not hold
    missing: dict[str, list[int]] = field(default_factory=dict)
    # device -> device seqs the server holds more than once
    duplicated: dict[str, list[int]] = field(default_factory=dict)
    # device -> device seqs the server holds with another kind than the device sent, or never sent
    not_as_sent: dict[str, list[int]] = field(default_factory=dict)
    # alarm event id -> number of cases it is in, when that is not exactly one
    alarms_not_in_one_case: dict[str, int] = field(default_factory=dict)
    # case id -> the duty topic no alert for it was published on
    cases_never_alerted: dict[int, str] = field(default_factory=dict)
    # gateway -> events still waiting for the server's ack
    backlog: dict[str, int] = field(default_factory=dict)


def server_events(db: ServerDb) -> list[ServerEvent]:
    return [ServerEvent(*row) for row in db.rows("SELECT id, gateway, device, device_seq, kind FROM events")]


def stored_exactly_once(stored: dict[str, set[int]], events: list[ServerEvent]) -> tuple[
        dict[str, list[int]], dict[str, list[int]]]:
    """(missing, duplicated) per device, from the devices' ``stored`` logs and the server's events."""
    held: dict[str, Counter[int]] = {}
    for ev in events:
        if ev.device_seq is not None:
            held.setdefault(ev.device, Counter())[ev.device_seq] += 1
    missing: dict[str, list[int]] = {}
    for device, seqs in stored.items():
        lost = sorted(s for s in seqs if held.get(device, Counter())[s] == 0)
        if lost:
            missing[device] = lost
    duplicated = {
        device: sorted(s for s, n in counts.items() if n > 1)
        for device, counts in held.items()
        if any(n > 1 for n in counts.values())
    }
    return missing, duplicated


def as_sent(sent: dict[str, dict[int, str]], events: list[ServerEvent]) -> dict[str, list[int]]:
    """Per device driven by the test: server events whose kind is not what the device sent under
    that seq (or that it never sent). Events the gateway makes itself carry no device seq."""
    out: dict[str, list[int]] = {}
    for ev in events:
        kinds = sent.get(ev.device)
        if kinds is not None and ev.device_seq is not None and kinds.get(ev.device_seq) != ev.kind:
            out.setdefault(ev.device, []).append(ev.device_seq)
    return {device: sorted(seqs) for device, seqs in out.items()}


def alarms_in_one_case(db: ServerDb, events: list[ServerEvent]) -> dict[str, int]:
    links = Counter(event_id for _, event_id in db.rows("SELECT case_id, event_id FROM case_events"))
    return {ev.id: links[ev.id] for ev in events if ev.kind in _CASE_KINDS and links[ev.id] != 1}


def duty_topic(region_path: str | None) -> str:
    return _TOPICS.duty_alerts(region_path.split("/") if region_path else [])


def cases_alerted(db: ServerDb, alerts: list[tuple[str, dict[str, Any]]]) -> dict[int, str]:
    heard = {(topic, alert["case"]["id"]) for topic, alert in alerts if isinstance(alert.get("case"), dict)}
    out: dict[int, str] = {}
    for case_id, region_path in db.rows("SELECT id, region_path FROM cases"):
        topic = duty_topic(region_path)
        if (topic, case_id) not in heard:
            out[case_id] = topic
    return out


def backlog(config: Path) -> int:
    """Undelivered events in a gateway's outbox, read as `shouwang gateway status` reads them."""
    try:
        report = status_report(load_settings(config))
    except GatewayError:
        return -1  # unreadable right now (a writer mid-checkpoint): not healed yet
    return int(report.get("backlog", 0))


def report(stack: ChaosStack, gateways: list[str] | None = None) -> Report:
    events = server_events(stack.db)
    stored = {device: v.stored() for device, v in stack.villagers.items()}
    missing, duplicated = stored_exactly_once(stored, events)
    waiting = {}
    for gw in gateways if gateways is not None else list(stack.gateways):
        n = backlog(stack.gateway_dir(gw) / "gateway.toml")
        if n:
            waiting[gw] = n
    unacked = {}
    for device, v in stack.villagers.items():
        waiting_ack = sorted(v.sent() - v.stored())
        if waiting_ack:
            unacked[device] = waiting_ack
    return Report(
        unacked=unacked,
        missing=missing,
        duplicated=duplicated,
        not_as_sent=as_sent({device: v.sent_kinds() for device, v in stack.villagers.items()}, events),
        alarms_not_in_one_case=alarms_in_one_case(stack.db, events),
        cases_never_alerted=cases_alerted(stack.db, stack.duty.received()),
        backlog=waiting,
    )


def wait_healed(stack: ChaosStack, timeout: float = HEAL_S, gateways: list[str] | None = None) -> Report:
    """Poll until the report is empty or ``timeout`` passes; then assert it is empty and hand
    back the last report (the scenario may check more)."""
    deadline = time.monotonic() + timeout
    last = report(stack, gateways)
    while last != Report() and time.monotonic() < deadline:
        stack.check_alive()
        time.sleep(0.5)
        last = report(stack, gateways)
    assert last == Report(), "not healed after %.0f s: %s" % (timeout, last)
    return last
