"""Notification rules: admins manage who is told of the cases of their own subtree.

Every write checks the rule's current region and the region it is moved to; a rule outside
the caller's subtree does not exist for them (404). Targets hold access tokens, so they are
written but never read back in full: answers carry a masked form.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server.api.bounds import ONE_LINE, Kind, RegionPath, RowId
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page
from server.db.models import Region
from server.errors import Invalid, NotFound
from server.notify.relay import NotificationRelay
from server.notify.rules import check_classes, check_hhmm, check_timezone
from server.notify.sender import NotifyError
from server.notify.tables import NotifyRule
from server.notify.targets import display, parse_target
from server.scope import Scope, in_scope, require_admin, require_destination

router = APIRouter(tags=["notify-rules"], responses=ERRORS)


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=ONE_LINE)
    region: RegionPath | None = Field(
        None, description="region path; null is the whole tree (root admins only)"
    )
    target: str | None = Field(
        None,
        max_length=2000,
        pattern=ONE_LINE,
        description="apprise URL (dingtalk://, wecombot://, mailto://, json://...) or sms://NUMBER[,NUMBER] "
        "for the server's modem; on update, null keeps the saved target",
    )
    classes: list[Kind] | None = Field(
        None, max_length=20, description="alarm classes; null: the alarm classes"
    )
    min_level: int = Field(0, ge=0, le=10, description="0: from the new case on; n: from the n-th escalation")
    quiet_start: str | None = Field(
        None, max_length=5, description="HH:MM local; never holds back panic, medical, fire"
    )
    quiet_end: str | None = Field(None, max_length=5)
    timezone: str = Field("Asia/Shanghai", max_length=64, pattern=ONE_LINE)
    language: Literal["zh", "en"] = "zh"
    enabled: bool = True


class RuleOut(BaseModel):
    id: int
    name: str
    region: str | None
    target: str = Field(description="masked: tokens and most digits hidden")
    classes: list[str] | None
    min_level: int
    quiet_start: str | None
    quiet_end: str | None
    timezone: str
    language: str
    enabled: bool
    created_by: str


class TestResult(BaseModel):
    ok: bool
    detail: str


def _region(session: Session, path: str | None) -> Region | None:
    if path is None:
        return None
    region = session.scalars(select(Region).where(Region.path == path)).one_or_none()
    if region is None:
        raise Invalid("unknown region %r" % path, reason="unknown_region")
    return region


def _path(session: Session, rule: NotifyRule) -> str | None:
    if rule.region_id is None:
        return None
    region = session.get(Region, rule.region_id)
    return region.path if region is not None else None


def _out(rule: NotifyRule, path: str | None) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        region=path,
        target=_display(rule.target),
        classes=rule.classes,
        min_level=rule.min_level,
        quiet_start=rule.quiet_start,
        quiet_end=rule.quiet_end,
        timezone=rule.timezone,
        language=rule.language,
        enabled=rule.enabled,
        created_by=rule.created_by,
    )


def _display(target: str) -> str:
    """Masked; a stored target that no longer parses still lists (and can be replaced)."""
    try:
        return display(target)
    except Invalid:
        return target.partition("://")[0] + "://…"


def _checked(body: RuleIn, scope: Scope) -> None:
    # A named region outside the caller's subtree is as unknown as one that does not exist;
    # a rule for the whole tree is only for admins of the whole tree.
    if body.region is not None and not scope.covers(body.region):
        raise Invalid("unknown region %r" % body.region, reason="unknown_region")
    require_destination(scope, body.region, "the rule")
    if (body.quiet_start is None) != (body.quiet_end is None):
        raise Invalid("quiet hours need both a start and an end", reason="bad_quiet_hours")
    if body.quiet_start is not None and body.quiet_end is not None:
        check_hhmm(body.quiet_start)
        check_hhmm(body.quiet_end)
    check_timezone(body.timezone)
    check_classes(body.classes)
    if body.target is not None:
        parse_target(body.target)


def _load(session: Session, rule_id: int, scope: Scope) -> tuple[NotifyRule, str | None]:
    rule = session.get(NotifyRule, rule_id, with_for_update=True)
    if rule is None:
        raise NotFound("rule %d not found" % rule_id)
    path = _path(session, rule)
    if not scope.covers(path):
        raise NotFound("rule %d not found" % rule_id)
    return rule, path


@router.get("/notify-rules", response_model=Page[RuleOut])
def list_rules(svc: ServicesDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0) -> Page[RuleOut]:
    require_admin(scope)
    stmt = select(NotifyRule, Region.path).outerjoin(Region, NotifyRule.region_id == Region.id)
    if not scope.is_root:
        stmt = stmt.where(in_scope(Region.path, scope))
    else:
        stmt = stmt.where(or_(NotifyRule.region_id.is_(None), Region.id.is_not(None)))
    with svc.db.read() as s:
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = s.execute(stmt.order_by(NotifyRule.id).limit(limit).offset(offset)).all()
        items = [_out(rule, path) for rule, path in rows]
    return Page[RuleOut](items=items, total=total, limit=limit, offset=offset)


@router.post("/notify-rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleIn, svc: ServicesDep, scope: ScopeDep) -> RuleOut:
    require_admin(scope)
    _checked(body, scope)
    if body.target is None:
        raise Invalid("a new rule needs a target", reason="bad_target")
    now = svc.clock()
    with svc.db.write() as s:
        region = _region(s, body.region)
        rule = NotifyRule(
            name=body.name,
            region_id=region.id if region else None,
            target=body.target.strip(),
            classes=check_classes(body.classes),
            min_level=body.min_level,
            quiet_start=body.quiet_start,
            quiet_end=body.quiet_end,
            timezone=body.timezone,
            language=body.language,
            enabled=body.enabled,
            created_by=scope.username,
            created_at=now,
            updated_at=now,
        )
        s.add(rule)
        s.flush()
        return _out(rule, body.region)


@router.put("/notify-rules/{rule_id}", response_model=RuleOut)
def update_rule(rule_id: RowId, body: RuleIn, svc: ServicesDep, scope: ScopeDep) -> RuleOut:
    require_admin(scope)
    _checked(body, scope)  # where it goes
    with svc.db.write() as s:
        rule, _ = _load(s, rule_id, scope)  # where it is now
        region = _region(s, body.region)
        rule.name = body.name
        rule.region_id = region.id if region else None
        if body.target is not None:
            rule.target = body.target.strip()
        rule.classes = check_classes(body.classes)
        rule.min_level = body.min_level
        rule.quiet_start = body.quiet_start
        rule.quiet_end = body.quiet_end
        rule.timezone = body.timezone
        rule.language = body.language
        rule.enabled = body.enabled
        rule.updated_at = svc.clock()
        s.flush()
        return _out(rule, body.region)


@router.delete("/notify-rules/{rule_id}", status_code=204)
def delete_rule(rule_id: RowId, svc: ServicesDep, scope: ScopeDep) -> None:
    require_admin(scope)
    with svc.db.write() as s:
        rule, _ = _load(s, rule_id, scope)
        s.delete(rule)


@router.post("/notify-rules/{rule_id}/test", response_model=TestResult)
def test_rule(rule_id: RowId, request: Request, svc: ServicesDep, scope: ScopeDep) -> TestResult:
    """Send a test message to the rule's target now (not through the outbox) and say how it went."""
    require_admin(scope)
    with svc.db.read() as s:
        rule, _ = _load(s, rule_id, scope)
        target, language = rule.target, rule.language
    relay: NotificationRelay = request.app.state.notify_relay
    if language == "en":
        title, body = "[Shouwang] Test", "A test from Shouwang by %s: this target works." % scope.username
    else:
        title, body = "【守望】测试", "守望报警网络测试消息（%s 发送）：此通知目标可用。" % scope.username
    try:
        detail = relay.sender.send(target, title, body, body)
    except NotifyError as exc:
        return TestResult(ok=False, detail=exc.detail or str(exc))
    return TestResult(ok=True, detail=detail)
