"""Station actions: what staff did on the kiosk, sent to the server like events (docs/protocol.md,
"Station actions"). Pure.

``sw/v1/gw/{gw}/actions`` (gateway -> server, QoS 1): a JSON array of 1..100 actions, oldest
first. ``sw/v1/gw/{gw}/actions/ack`` (server -> gateway, QoS 1): one result per action the
server has committed, ``{"results": [{"id", "ok", ...}]}``. The gateway deletes an action only
on its result, whatever the result says (a refusal is final, and shown to staff); the server is
idempotent on the action id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from protocol.errors import ProtocolError
from protocol.event import format_time, parse_time
from protocol.pins import check_staff_name

VERBS = ("going", "handled", "false_alarm")  # 我去处理, 已处理, 误报
MAX_ACTIONS = 100  # per message
MAX_NOTE = 500
ACTION_ID = re.compile(r"[0-9a-f]{32}")  # uuid4 hex: unique even across a reinstalled gateway
EVENT_ID = re.compile(r"[a-z0-9-]{3,32}:[0-9]{1,19}")


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _loads(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("bad_json", str(exc)) from None


@dataclass(frozen=True, slots=True)
class StationAction:
    id: str  # 32 hex digits
    event: str  # the alarm it answers, "<gateway>:<seq>"
    verb: str  # one of VERBS
    by: str  # the staff member signed in at the kiosk
    at: datetime  # when staff did it, at the station
    note: str = ""

    def __post_init__(self) -> None:
        if not ACTION_ID.fullmatch(self.id):
            raise ProtocolError("bad_action", "id must be 32 hex digits")
        if not EVENT_ID.fullmatch(self.event):
            raise ProtocolError("bad_action", "event must be <gateway>:<seq>")
        if self.verb not in VERBS:
            raise ProtocolError("bad_action", "action must be one of %s" % ", ".join(VERBS))
        try:
            check_staff_name(self.by)
        except ProtocolError as exc:
            raise ProtocolError("bad_action", "by: %s" % exc.detail) from None
        if len(self.note) > MAX_NOTE:
            raise ProtocolError("bad_action", "note must be text of at most %d characters" % MAX_NOTE)
        if self.at.tzinfo is None:
            raise ProtocolError("bad_action", "at must carry a timezone")

    @property
    def gateway(self) -> str:
        return self.event.rpartition(":")[0]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "id": self.id, "event": self.event, "action": self.verb,
                               "by": self.by, "at": format_time(self.at)}
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_dict(cls, obj: Any) -> StationAction:
        if not isinstance(obj, dict):
            raise ProtocolError("bad_action", "not an object")
        if obj.get("v") != 1:
            raise ProtocolError("bad_version", repr(obj.get("v")))
        return cls(id=_text(obj, "id"), event=_text(obj, "event"), verb=_text(obj, "action"),
                   by=_text(obj, "by"), at=parse_time(_text(obj, "at")), note=_text(obj, "note", ""))


def _text(obj: dict[str, Any], key: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError("bad_action", "%s must be a string" % key)
    return value


def encode_actions(actions: list[StationAction]) -> bytes:
    if not 1 <= len(actions) <= MAX_ACTIONS:
        raise ProtocolError("bad_batch", "%d actions" % len(actions))
    return _dumps([a.to_dict() for a in actions])


@dataclass(slots=True)
class DecodedActions:
    actions: list[StationAction]
    rejected: list[tuple[int, str | None, ProtocolError]]  # (index, id if readable, why)


def decode_actions(payload: bytes, gateway: str) -> DecodedActions:
    """Every well-formed action of the batch; an action about another gateway's event is
    rejected (a gateway acts only on its own alarms). A rejected action whose id can be read
    is answered with a refusal, so the gateway does not resend it for ever."""
    obj = _loads(payload)
    if not isinstance(obj, list) or not 1 <= len(obj) <= MAX_ACTIONS:
        raise ProtocolError("bad_batch", "expected an array of 1 to %d actions" % MAX_ACTIONS)
    out = DecodedActions([], [])
    for index, item in enumerate(obj):
        ident = item.get("id") if isinstance(item, dict) else None
        readable = ident if isinstance(ident, str) and ACTION_ID.fullmatch(ident) else None
        try:
            action = StationAction.from_dict(item)
            if action.gateway != gateway:
                raise ProtocolError("wrong_gateway", "%s on %s's topic" % (action.event, gateway))
            out.actions.append(action)
        except ProtocolError as exc:
            out.rejected.append((index, readable, exc))
    return out


@dataclass(frozen=True, slots=True)
class ActionResult:
    id: str
    ok: bool
    reason: str = ""  # why not, a stable token (case_closed, no_event, not_in_station...)
    extra: dict[str, Any] = field(default_factory=dict)  # case, state, detail

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.extra, "id": self.id, "ok": self.ok}
        if self.reason:
            out["reason"] = self.reason
        return out


def encode_action_results(results: list[ActionResult]) -> bytes:
    return _dumps({"results": [r.to_dict() for r in results]})


def decode_action_results(payload: bytes) -> list[ActionResult]:
    obj = _loads(payload)
    if not isinstance(obj, dict) or not isinstance(obj.get("results"), list):
        raise ProtocolError("bad_action_ack", "expected {\"results\": [...]}")
    out: list[ActionResult] = []
    for item in obj["results"]:
        if not isinstance(item, dict):
            raise ProtocolError("bad_action_ack", "a result is not an object")
        item = dict(item)
        ident, ok, reason = item.pop("id", None), item.pop("ok", None), item.pop("reason", "")
        if not isinstance(ident, str) or not ACTION_ID.fullmatch(ident) or not isinstance(ok, bool):
            raise ProtocolError("bad_action_ack", "id (32 hex digits) and ok (bool) required")
        if not isinstance(reason, str):
            raise ProtocolError("bad_action_ack", "reason must be a string")
        out.append(ActionResult(ident, ok, reason, item))
    return out
