"""The case workflow: states, legal actions, deadlines and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.alerts import Alert, build_alert
from server.commands import Command, new_command
from server.db.models import Case, CaseAction, Device, EventRow, Region
from server.deadlines import schedule
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.scope import CASE_ACTORS, Scope
from server.settings import Deadlines

STATES = ("new", "accepted", "dispatched", "handling", "replied", "verified", "closed")
OPEN_STATES = frozenset(STATES[:-1])

# action -> (states it is legal in, state it leads to; None keeps the state)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "accept": (frozenset({"new"}), "accepted"),  # 受理
    "dispatch": (frozenset({"accepted"}), "dispatched"),  # 分流/派遣
    "start": (frozenset({"dispatched"}), "handling"),  # 处置
    "reply": (frozenset({"handling"}), "replied"),  # 回复
    "verify": (frozenset({"replied"}), "verified"),  # 核查
    "return": (frozenset({"replied", "verified"}), "handling"),  # 回退 (rework)
    # 结案: a duty officer may close once a person has taken the case on.
    "close": (OPEN_STATES - {"new"}, "closed"),
    "false_alarm": (OPEN_STATES, "closed"),  # 误报
    "cancel": (OPEN_STATES, "closed"),
    "transfer": (OPEN_STATES, None),  # 转办
    "co_handle": (OPEN_STATES - {"new"}, None),  # 协办
    "extend": (OPEN_STATES - {"new"}, None),  # 延期
    "supervise": (OPEN_STATES, None),  # 督办
    "comment": (frozenset(STATES), None),
    "evaluate": (frozenset({"closed"}), None),  # 评价
}
ACTIONS = tuple(TRANSITIONS)
RESOLUTION = {"close": "resolved", "false_alarm": "false_alarm", "cancel": "cancelled"}
# The step whose deadline runs while a case is in a state: every open state has one.
STEP_OF_STATE = {
    "new": "accept",
    "accepted": "dispatch",
    "dispatched": "handle",
    "handling": "handle",
    "replied": "verify",
    "verified": "close",
}


@dataclass
class ActionOutcome:
    case: Case
    action: CaseAction
    alerts: list[Alert] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


def latest_event(session: Session, case: Case) -> EventRow | None:
    return session.get(EventRow, case.last_event_id) if case.last_event_id else None


def step_deadline(case: Case, state: str, now: datetime, deadlines: Deadlines) -> datetime | None:
    step = STEP_OF_STATE.get(state)
    if step is None:
        return None
    if state == "handling" and case.state == "dispatched" and case.deadline is not None:
        return case.deadline  # starting work does not restart the handling clock
    return now + timedelta(seconds=deadlines.seconds(step, case.alarm_class))


def _set_schedule(
    case: Case, started: datetime, deadline: datetime | None, now: datetime, deadlines: Deadlines
) -> None:
    sched = schedule(started, deadline, now, deadlines)
    case.deadline = sched.deadline
    case.step_started_at = sched.step_started_at
    case.deadline_status = sched.deadline_status
    case.next_escalation_at = sched.next_escalation_at
    case.escalation_level = 0


def _transfer(session: Session, case: Case, region: Region) -> None:
    """转办: the case moves to another region's people (and out of sight of the old ones)."""
    case.region_id = region.id
    case.region_path = region.path


def apply_action(
    session: Session,
    case_id: int,
    scope: Scope,
    action: str,
    now: datetime,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    deadlines: Deadlines | None = None,
    recorded_at: datetime | None = None,
) -> ActionOutcome:
    """Apply one action in the caller's transaction; publish the outcome after commit.

    ``recorded_at``: when the action was taken, if not ``now`` (a station's action that reached
    the server later); the audit record keeps it, the case's clock runs from ``now``."""
    deadlines = deadlines or Deadlines()
    data = dict(data or {})
    if action not in TRANSITIONS:
        raise Invalid("unknown action %r; one of %s" % (action, ", ".join(ACTIONS)), reason="unknown_action")
    if scope.role not in CASE_ACTORS and action != "comment":
        raise Forbidden("role %s may not %s cases" % (scope.role, action))
    case = session.get(Case, case_id, with_for_update=True)
    if case is None or not scope.covers(case.region_path):
        raise NotFound("case %d not found" % case_id)
    allowed, target = TRANSITIONS[action]
    if case.state not in allowed:
        raise Conflict(
            "cannot %s a case that is %s (allowed when %s)"
            % (action, case.state, ", ".join(sorted(allowed))),
            reason="illegal_transition",
        )
    from_state = case.state
    to_state = target or from_state
    extra = _check_data(session, case, action, data, now, scope)
    if target is not None and target != from_state:
        keep = target == "handling" and from_state == "dispatched"  # starting work keeps the clock
        started = case.step_started_at if keep and case.step_started_at is not None else now
        _set_schedule(case, started, step_deadline(case, target, now, deadlines), now, deadlines)
        case.state = target
    if target == "closed":
        case.is_open = False
        case.closed_at = now
        case.resolution = RESOLUTION[action]
        case.next_escalation_at = None
    if action == "extend":
        _set_schedule(case, case.step_started_at or now, extra["deadline"], now, deadlines)
    if action == "transfer":
        _transfer(session, case, extra["region"])
    if action in ("dispatch", "co_handle") and data.get("assignee"):
        if action == "dispatch":
            case.assignee = str(data["assignee"])
    if action == "evaluate":
        case.satisfaction = int(data["satisfaction"])
    case.updated_at = now
    record = CaseAction(
        case_id=case.id,
        action=action,
        from_state=from_state,
        to_state=to_state,
        user_id=scope.user_id,
        actor=scope.username,
        at=recorded_at or now,
        note=note,
        data={k: _jsonable(v) for k, v in {**data, **extra}.items()} or None,
    )
    session.add(record)
    session.flush()
    outcome = ActionOutcome(case, record)
    outcome.alerts.append(build_alert(session, "case_updated", case, latest_event(session, case)))
    if action == "accept":
        cmd = _ack_level_command(session, case, "accepted", scope, now)
        if cmd is not None:
            outcome.commands.append(cmd)
    elif target == "closed" and case.category == "alarm":
        # The station's kiosk takes the card off its open alarms (the node keeps its level).
        cmd = _ack_level_command(session, case, "closed", scope, now, resolution=case.resolution)
        if cmd is not None:
            outcome.commands.append(cmd)
    return outcome


def _jsonable(value: Any) -> Any:
    if isinstance(value, Region):
        return value.path
    return value.isoformat() if isinstance(value, datetime) else value


def _check_data(
    session: Session, case: Case, action: str, data: dict[str, Any], now: datetime, scope: Scope
) -> dict[str, Any]:
    if action == "evaluate":
        score = data.get("satisfaction")
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise Invalid("satisfaction must be an integer from 1 to 5", reason="bad_satisfaction")
        if case.satisfaction is not None:
            raise Conflict("case %d is already evaluated" % case.id, reason="already_evaluated")
    if action == "transfer":
        path = data.get("region")
        if not isinstance(path, str):
            raise Invalid("transfer needs the target region path", reason="bad_transfer")
        region = session.scalars(select(Region).where(Region.path == path)).one_or_none()
        # A case goes only where its transferrer could still see it: a region outside the
        # caller's subtree is as unknown as one that does not exist.
        if region is None or not scope.covers(region.path):
            raise Invalid("unknown region %r" % path, reason="bad_transfer")
        return {"region": region}
    if action == "dispatch" and not isinstance(data.get("assignee"), str | None):
        raise Invalid("assignee must be a string", reason="bad_assignee")
    if action == "extend":
        seconds = data.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 < seconds <= 30 * 86400:
            raise Invalid("extend needs seconds between 1 and 2592000", reason="bad_extension")
        base = case.deadline if case.deadline is not None and case.deadline > now else now
        return {"deadline": base + timedelta(seconds=float(seconds))}
    return {}


def _ack_level_command(
    session: Session, case: Case, level: str, scope: Scope, now: datetime, **extra: Any
) -> Command | None:
    """Tell the device, through its gateway, how far its alarm got (the villager's button), and
    the station's kiosk which alarm that is (``event``) and who took it on (``by``)."""
    event = latest_event(session, case)
    if event is None:
        return None
    device = session.get(Device, case.device_id)
    gateway = device.gateway_id if device is not None and device.gateway_id else event.gateway_id
    if gateway == case.device_id:
        return None  # an alarm panel's own event (SIA): no gateway and no station board to tell
    args: dict[str, Any] = {
        "device": case.device_id,
        "level": level,
        "event": event.id,
        "by": scope.username,
        **extra,
    }
    if event.device_seq is not None:
        args["device_seq"] = event.device_seq
    return new_command(session, gateway, "ack_level", args, scope.username, now, case.id)


__all__ = ["ACTIONS", "STATES", "TRANSITIONS", "ActionOutcome", "Command", "apply_action"]
