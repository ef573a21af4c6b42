"""Which targets hear of a case change: the rules of the case's region and every region above
it, plus the root targets of ``SHOUWANG_NOTIFY``; quiet hours move a delivery to their end."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Case, Region
from server.errors import Invalid
from server.notify.tables import NotifyRule

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
# Quiet hours never hold these back.
ALWAYS_NOW = frozenset({"panic", "medical", "fire"})
# A rule that names no classes hears of alarm cases; maintenance classes must be named.
MAINTENANCE_CLASSES = frozenset({"tamper", "battery", "missing", "gateway_offline", "notify_failed"})
ALARM_CLASSES = frozenset({"panic", "medical", "fire", "intrusion"})
KNOWN_CLASSES = ALARM_CLASSES | MAINTENANCE_CLASSES
TRIGGERS = ("case_opened", "case_escalated")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True)
class Recipient:
    key: str  # "rule:<id>" or "env:<n>"
    rule_id: int | None
    target: str
    language: str
    timezone: str
    due_at: datetime


@dataclass(frozen=True)
class RuleView:
    """A rule as matching needs it, read once per batch of alerts."""

    id: int
    region_path: str | None
    target: str
    classes: frozenset[str] | None
    min_level: int
    quiet: tuple[time, time] | None
    timezone: str
    language: str


def check_hhmm(value: str) -> time:
    m = _HHMM.match(value)
    if m is None:
        raise Invalid("quiet hours are HH:MM, got %r" % value, reason="bad_quiet_hours")
    return time(int(m.group(1)), int(m.group(2)))


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown time zone %r" % value, reason="bad_timezone") from None
    return value


def check_classes(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    unknown = sorted(set(values) - KNOWN_CLASSES)
    if unknown or not values:
        raise Invalid(
            "alarm classes are some of %s; unknown: %s" % (", ".join(sorted(KNOWN_CLASSES)), unknown),
            reason="bad_classes",
        )
    return sorted(set(values))


def load_rules(session: Session) -> list[RuleView]:
    rows = session.execute(
        select(NotifyRule, Region.path)
        .outerjoin(Region, NotifyRule.region_id == Region.id)
        .where(NotifyRule.enabled.is_(True))
        .order_by(NotifyRule.id)
    ).all()
    out = []
    for rule, path in rows:
        # A stored value the checks would refuse today must not stop the ingest transaction
        # this runs in: the rule still notifies, without the part that does not read back.
        quiet = None
        if rule.quiet_start and rule.quiet_end:
            try:
                quiet = (check_hhmm(rule.quiet_start), check_hhmm(rule.quiet_end))
            except Invalid:
                log.error("notify rule %d: unreadable quiet hours %r-%r ignored", rule.id,
                          rule.quiet_start, rule.quiet_end)  # fmt: skip
        timezone = rule.timezone
        try:
            check_timezone(timezone)
        except Invalid:
            log.error("notify rule %d: unknown time zone %r, %s used", rule.id, timezone, DEFAULT_TIMEZONE)
            timezone = DEFAULT_TIMEZONE
        out.append(
            RuleView(
                rule.id,
                path,
                rule.target,
                frozenset(rule.classes) if rule.classes is not None else None,
                rule.min_level,
                quiet,
                timezone,
                rule.language,
            )
        )
    return out


def covers(rule_path: str | None, case_path: str | None) -> bool:
    if rule_path is None:
        return True
    return case_path is not None and (case_path == rule_path or case_path.startswith(rule_path + "/"))


def quiet_until(quiet: tuple[time, time], timezone: str, now: datetime) -> datetime | None:
    """The end of the quiet window ``now`` falls in (as UTC), or None when it is not quiet."""
    start, end = quiet
    if start == end:
        return None
    tz = ZoneInfo(timezone)
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    overnight = start > end
    inside = (t >= start or t < end) if overnight else (start <= t < end)
    if not inside:
        return None
    day = local.date()
    if overnight and t >= start:
        day = day + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(now.tzinfo)


def recipients(
    rules: list[RuleView],
    env: tuple[str, ...],
    case: Case,
    trigger: str,
    now: datetime,
    default_timezone: str,
) -> list[Recipient]:
    """Everyone to tell of this change, once per distinct target URL."""
    level = case.escalation_level if trigger == "case_escalated" else 0
    out: list[Recipient] = []
    seen: set[str] = set()
    if case.category == "alarm":
        for i, url in enumerate(env):
            if url not in seen:
                seen.add(url)
                out.append(Recipient("env:%d" % i, None, url, "zh", default_timezone, now))
    for rule in rules:
        if rule.target in seen or not covers(rule.region_path, case.region_path):
            continue
        if rule.classes is None and case.alarm_class not in ALARM_CLASSES:
            continue
        if rule.classes is not None and case.alarm_class not in rule.classes:
            continue
        if level < rule.min_level:
            continue
        due = now
        if rule.quiet is not None and case.alarm_class not in ALWAYS_NOW:
            due = quiet_until(rule.quiet, rule.timezone, now) or now
        seen.add(rule.target)
        out.append(Recipient("rule:%d" % rule.id, rule.id, rule.target, rule.language, rule.timezone, due))
    return out
