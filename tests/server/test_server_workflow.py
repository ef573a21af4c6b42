"""The case workflow matrix: every action from every state, legal ones and illegal ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db.engine import Database
from server.db.models import Case, CaseAction
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.ingest.store import store_events
from server.scope import SYSTEM, Scope
from server.workflow import ACTIONS, STATES, TRANSITIONS, apply_action
from tests.server.srv_support import T0, ev

# The shortest way from new to each state.
PATH_TO = {
    "new": [],
    "accepted": ["accept"],
    "dispatched": ["accept", "dispatch"],
    "handling": ["accept", "dispatch", "start"],
    "replied": ["accept", "dispatch", "start", "reply"],
    "verified": ["accept", "dispatch", "start", "reply", "verify"],
    "closed": ["accept", "close"],
}
DATA = {
    "evaluate": {"satisfaction": 4},
    "extend": {"seconds": 600},
    "transfer": {"region": "c01/t03/v12"},
    "dispatch": {"assignee": "grid-4 张"},
    "co_handle": {"assignee": "派出所"},
}


def _case_in(db: Database, state: str, seq: int) -> int:
    with db.write() as s:
        case_id = store_events(s, [ev(seq, "panic", device="sn-%x" % (0x1000 + seq))], T0).cases_opened[0]
    for action in PATH_TO[state]:
        with db.write() as s:
            apply_action(s, case_id, SYSTEM, action, T0, data=DATA.get(action))
    return case_id


def test_matrix(db: Database) -> None:
    seq = 0
    for state in STATES:
        for action in ACTIONS:
            seq += 1
            case_id = _case_in(db, state, seq)
            allowed, target = TRANSITIONS[action]
            if state in allowed:
                with db.write() as s:
                    out = apply_action(s, case_id, SYSTEM, action, T0, note="n", data=DATA.get(action))
                    assert out.case.state == (target or state), (state, action)
                    assert (out.action.from_state, out.action.to_state) == (state, target or state)
                    assert out.case.is_open == ((target or state) != "closed")
            else:
                with pytest.raises(Conflict) as err, db.write() as s:
                    apply_action(s, case_id, SYSTEM, action, T0, data=DATA.get(action))
                assert err.value.reason == "illegal_transition"
                assert str(err.value).startswith("cannot %s a case that is %s" % (action, state))
                with db.read() as s:  # nothing changed, nothing audited
                    case = s.get(Case, case_id)
                    assert case is not None and case.state == state


def test_full_path_audit_trail(db: Database) -> None:
    case_id = _case_in(db, "verified", 1)
    with db.write() as s:
        apply_action(s, case_id, SYSTEM, "return", T0, note="照片不清楚")
    for action in ("reply", "verify", "close"):
        with db.write() as s:
            apply_action(s, case_id, SYSTEM, action, T0)
    with db.write() as s:
        apply_action(s, case_id, SYSTEM, "evaluate", T0, data={"satisfaction": 5})
    with db.read() as s:
        trail = [
            (a.action, a.from_state, a.to_state)
            for a in s.scalars(
                select(CaseAction).where(CaseAction.case_id == case_id).order_by(CaseAction.id)
            )
        ]
        case = s.get(Case, case_id)
        assert case is not None
        assert (case.resolution, case.satisfaction, case.assignee) == ("resolved", 5, "grid-4 张")
    assert trail == [
        ("open", None, "new"),
        ("accept", "new", "accepted"),
        ("dispatch", "accepted", "dispatched"),
        ("start", "dispatched", "handling"),
        ("reply", "handling", "replied"),
        ("verify", "replied", "verified"),
        ("return", "verified", "handling"),
        ("reply", "handling", "replied"),
        ("verify", "replied", "verified"),
        ("close", "verified", "closed"),
        ("evaluate", "closed", "closed"),
    ]


def test_bad_action_input(db: Database) -> None:
    case_id = _case_in(db, "closed", 1)
    for action, data, reason in [
        ("evaluate", {"satisfaction": 6}, "bad_satisfaction"),
        ("evaluate", {"satisfaction": True}, "bad_satisfaction"),
        ("evaluate", {}, "bad_satisfaction"),
        ("fly", {}, "unknown_action"),
    ]:
        with pytest.raises(Invalid) as err, db.write() as s:
            apply_action(s, case_id, SYSTEM, action, T0, data=data)
        assert err.value.reason == reason
    with db.write() as s:
        apply_action(s, case_id, SYSTEM, "evaluate", T0, data={"satisfaction": 1})
    with pytest.raises(Conflict, match="already evaluated"), db.write() as s:
        apply_action(s, case_id, SYSTEM, "evaluate", T0, data={"satisfaction": 2})
    open_id = _case_in(db, "accepted", 2)
    for action, data, reason in [
        ("extend", {"seconds": -5}, "bad_extension"),
        ("transfer", {}, "bad_transfer"),
        ("transfer", {"region": "c99"}, "bad_transfer"),
    ]:
        with pytest.raises(Invalid) as err, db.write() as s:
            apply_action(s, open_id, SYSTEM, action, T0, data=data)
        assert err.value.reason == reason


def test_scope_and_roles(db: Database) -> None:
    case_id = _case_in(db, "new", 1)
    t05 = Scope(None, "duty-t05", "duty_officer", "c01/t05")
    with pytest.raises(NotFound), db.write() as s:
        apply_action(s, case_id, t05, "accept", T0)
    viewer = Scope(None, "viewer-t03", "viewer", "c01/t03")
    with pytest.raises(Forbidden), db.write() as s:
        apply_action(s, case_id, viewer, "accept", T0)
    with db.write() as s:  # a viewer may still leave a note
        apply_action(s, case_id, viewer, "comment", T0, note="邻居说已经去看了")


def test_transfer_moves_the_case_between_regions(db: Database) -> None:
    case_id = _case_in(db, "accepted", 1)
    with db.write() as s:
        apply_action(s, case_id, SYSTEM, "transfer", T0, data={"region": "c01/t05/v01/g1"})
    t03 = Scope(None, "duty-t03", "duty_officer", "c01/t03")
    with pytest.raises(NotFound), db.write() as s:
        apply_action(s, case_id, t03, "comment", T0)
    with db.write() as s:
        out = apply_action(s, case_id, Scope(None, "duty-t05", "duty_officer", "c01/t05"), "dispatch", T0)
    assert out.alerts[0].region_path == ["c01", "t05", "v01", "g1"]


def test_device_cancel_within_grace_period(db: Database) -> None:
    with db.write() as s:
        store_events(s, [ev(1, "panic", device_seq=1)], T0)
        res = store_events(s, [ev(2, "panic_cancel", device_seq=2)], T0 + timedelta(seconds=10))
    assert [(a.payload["type"], a.payload["case"]["state"]) for a in res.alerts] == [
        ("case_updated", "closed")
    ]
    with db.read() as s:
        case = s.scalars(select(Case)).one()
        assert (case.state, case.resolution, case.event_count) == ("closed", "cancelled", 2)
        last = s.scalars(select(CaseAction).order_by(CaseAction.id.desc())).first()
        assert last is not None and (last.action, last.actor) == ("cancel", "device:sn-00a3")


@pytest.mark.parametrize(("delay", "first"), [(31, []), (5, ["accept"])])
def test_device_cancel_too_late_only_annotates(db: Database, delay: float, first: list[str]) -> None:
    with db.write() as s:
        case_id = store_events(s, [ev(1, "panic")], T0).cases_opened[0]
    for action in first:
        with db.write() as s:
            apply_action(s, case_id, SYSTEM, action, T0)
    with db.write() as s:
        res = store_events(s, [ev(2, "panic_cancel")], T0 + timedelta(seconds=delay))
    assert [a.payload["type"] for a in res.alerts] == ["event_attached"]
    with db.read() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.is_open and case.event_count == 2


def test_audit_trail_cannot_be_rewritten(db: Database) -> None:
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DBAPIError

    case_id = _case_in(db, "accepted", 1)
    for stmt in (update(CaseAction).values(note="edited"), delete(CaseAction)):
        with pytest.raises(DBAPIError, match="append-only"), db.write() as s:
            s.execute(stmt.where(CaseAction.case_id == case_id))
    with db.read() as s:
        assert len(s.scalars(select(CaseAction).where(CaseAction.case_id == case_id)).all()) == 2
