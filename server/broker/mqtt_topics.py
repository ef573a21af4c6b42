"""MQTT topic filters: validation, `$share/<group>/<filter>` parsing and matching against topic names."""

from __future__ import annotations

from dataclasses import dataclass

SHARE_PREFIX = "$share/"


@dataclass(frozen=True)
class TopicFilter:
    """A parsed subscription filter; `group` is set for shared subscriptions."""

    text: str
    filter: str
    group: str | None
    levels: tuple[str, ...]


def parse_filter(text: str) -> TopicFilter | None:
    """The parsed filter, or None when `text` is not a valid (optionally shared) topic filter."""
    group: str | None = None
    body = text
    if text.startswith(SHARE_PREFIX):
        rest = text[len(SHARE_PREFIX) :]
        group, sep, body = rest.partition("/")
        if not sep or not group or "+" in group or "#" in group:
            return None
    if not body or len(body.encode()) > 65535:
        return None
    levels = tuple(body.split("/"))
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return None
        if "+" in level and level != "+":
            return None
    return TopicFilter(text, body, group, levels)


def matches(levels: tuple[str, ...], topic_levels: list[str]) -> bool:
    """True when a filter (split on "/") matches a topic name (split on "/").

    Wildcards in the first level never match a topic starting with "$" (such as "$SYS/..."), so
    that "#" subscribers do not receive broker-internal topics.
    """
    if topic_levels and topic_levels[0].startswith("$") and levels and levels[0] in ("+", "#"):
        return False
    n = len(topic_levels)
    for i, level in enumerate(levels):
        if level == "#":
            return True
        if i >= n:
            return False
        if level != "+" and level != topic_levels[i]:
            return False
    return len(levels) == n
