"""Live push to consoles: every duty alert, fanned out to the consoles whose scope holds its case.

The hub is fed from the duty alert topic on MQTT (``server.live_feed``), not from calls inside
this process, so a console connected to any server instance hears of every case change, whichever
instance ingested the event or took the action. Each change becomes one server-sent event frame,
encoded once and queued for every subscriber that may see it; nothing leaves the hub for a
console whose scope does not cover the case's region.

Catching up: frames carry ``id: <instance epoch>-<seq>``. A console that reconnects with a
``Last-Event-ID`` this instance still holds in its recent buffer gets the frames it missed (those
in its scope); any other console is told to re-read the board (``resync``), which the REST API
answers with the same scoping as everything else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from server.errors import ServerError
from server.scope import Scope

log = logging.getLogger(__name__)

RECENT = 2000  # frames kept for consoles that reconnect with a Last-Event-ID
QUEUE = 1000  # frames waiting for one console before it is cut off (it reconnects and catches up)
REMEMBER = 50_000  # cases whose region the hub remembers, to tell old owners of a transfer


class BadAlert(ServerError):
    reason = "bad_alert"


@dataclass(frozen=True)
class Push:
    """One frame for the consoles that may see it."""

    seq: int
    frame: bytes
    path: str | None  # the case's region now
    left: str | None = None  # for a "gone" frame: the region the case left
    gone: bool = False

    def visible_to(self, scope: Scope) -> bool:
        if self.gone:
            return scope.covers(self.left) and not scope.covers(self.path)
        return scope.covers(self.path)


@dataclass(eq=False)
class Subscriber:
    scope: Scope
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(QUEUE))
    cut_off: bool = False

    def put(self, frame: bytes | None) -> None:
        if self.cut_off:
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            # A console that does not read is closed, not allowed to hold memory without end;
            # it reconnects with its last id and catches up.
            self.cut_off = True
            log.warning("live push to %s: %d frames unread, stream closed", self.scope.username, QUEUE)
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


def frame(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    head = "id: %s\n" % event_id if event_id is not None else ""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return ("%sevent: %s\ndata: %s\n\n" % (head, event, body)).encode("utf-8")


def case_change(alert: Any) -> tuple[int, str | None, dict[str, Any]]:
    """A duty alert (``server.alerts``) as what the console needs: the case as its list shows it,
    and the point to put it on the map. Names are left out: the console has them, scoped."""
    try:
        case = alert["case"]
        codes = alert["region"]["path"]
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise TypeError("region path")
        path = "/".join(codes) or None
        event = alert.get("event") or {}
        location = alert.get("location") or {}
        point = None
        if isinstance(location.get("lat"), int | float) and isinstance(location.get("lon"), int | float):
            point = {"lat": location["lat"], "lon": location["lon"]}
        case_id = int(case["id"])
        body: dict[str, Any] = {
            "type": str(alert["type"]),
            "case": {
                "id": case_id,
                "state": str(case["state"]),
                "open": case["state"] != "closed",
                "kind": str(case["kind"]),
                "alarm_class": case.get("alarm_class"),
                "priority": str(case["priority"]),
                "opened_at": case["opened_at"],
                "deadline": case.get("deadline"),
                "deadline_status": case.get("deadline_status", "green"),
                "escalation_level": int(case.get("escalation_level") or 0),
                "event_count": int(case.get("event_count") or 0),
                "device": str(alert["device"]["id"]),
                "gateway": event.get("gateway"),
                "region_path": path,
            },
            "location": point,
        }
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadAlert("duty alert without %s" % exc) from None
    return case_id, path, body


class LiveHub:
    """Subscribers live on the server's event loop; ``offer`` and ``set_live`` may be called from
    any thread (the MQTT client's) and hand over to the loop."""

    def __init__(self, recent: int = RECENT, remember: int = REMEMBER) -> None:
        self.epoch = secrets.token_hex(4)
        self.live = False
        self.frames_sent = 0
        self._seq = 0
        self._recent: deque[Push] = deque(maxlen=recent)
        self._remember = remember
        self._paths: OrderedDict[int, str | None] = OrderedDict()
        self._subs: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- any thread ------------------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def offer(self, payload: bytes) -> None:
        """One duty alert as published on MQTT."""
        try:
            case_id, path, body = case_change(json.loads(payload))
        except (ValueError, BadAlert) as exc:
            log.warning("duty alert not pushed to consoles: %s", exc)
            return
        self._call(self._publish, case_id, path, body)

    def set_live(self, live: bool) -> None:
        """The duty feed is (not) receiving; consoles fall back to reading the board meanwhile,
        and re-read it when the feed is back, since alerts may have passed while it was away."""
        self._call(self._set_live, live)

    def close(self) -> None:
        self._call(self._close)

    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed meanwhile: the server is stopping
            pass

    # -- the event loop --------------------------------------------------------------------

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, scope: Scope, last_event_id: str | None) -> tuple[Subscriber, list[bytes], bool]:
        """The new subscriber, the frames it missed, and whether it must re-read the board."""
        sub = Subscriber(scope)
        self._subs.add(sub)
        replay, resync = self._since(last_event_id)
        return sub, [p.frame for p in replay if p.visible_to(scope)], resync

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.discard(sub)

    def _since(self, last_event_id: str | None) -> tuple[list[Push], bool]:
        epoch, _, seq_text = (last_event_id or "").partition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return [], True
        seq = int(seq_text)
        oldest = self._recent[0].seq if self._recent else self._seq + 1
        if seq < oldest - 1 or seq > self._seq:
            return [], True  # too old for the buffer, or from the future: read the board
        return [p for p in self._recent if p.seq > seq], False

    def _next(self, event: str, data: dict[str, Any], path: str | None, left: str | None = None) -> Push:
        self._seq += 1
        push = Push(
            self._seq, frame(event, data, "%s-%d" % (self.epoch, self._seq)), path, left, event == "gone"
        )
        self._recent.append(push)
        return push

    def _publish(self, case_id: int, path: str | None, body: dict[str, Any]) -> None:
        pushes = []
        if case_id in self._paths:
            before = self._paths.pop(case_id)
            if before != path:
                # Transferred: the old region's consoles drop it; they never see where it went.
                pushes.append(self._next("gone", {"id": case_id}, path, before))
        self._paths[case_id] = path
        while len(self._paths) > self._remember:
            self._paths.popitem(last=False)
        pushes.append(self._next("case", body, path))
        for push in pushes:
            for sub in self._subs:
                if push.visible_to(sub.scope):
                    sub.put(push.frame)
                    self.frames_sent += 1

    def _set_live(self, live: bool) -> None:
        if live == self.live:
            return
        self.live = live
        log.info("live push to consoles %s", "running" if live else "interrupted (duty feed lost)")
        data = frame("feed", {"live": live})
        for sub in self._subs:
            sub.put(data)

    def _close(self) -> None:
        for sub in list(self._subs):
            sub.put(None)
        self._subs.clear()


def ready_frame(resync: bool, live: bool, epoch: str) -> bytes:
    return frame("ready", {"resync": resync, "live": live, "instance": epoch})
