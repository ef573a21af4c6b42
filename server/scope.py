"""Who is asking and which part of the region tree they may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, true
from sqlalchemy.orm import InstrumentedAttribute

ROLES = ("admin", "duty_officer", "grid_worker", "station_staff", "viewer")
# What each role may do to cases; admin may do everything.
CASE_ACTORS = frozenset({"admin", "duty_officer", "grid_worker", "station_staff", "device"})


@dataclass(frozen=True)
class Scope:
    user_id: int | None
    username: str
    role: str
    region_path: str | None  # None: the whole tree, including unassigned devices

    @property
    def is_root(self) -> bool:
        return self.region_path is None

    def covers(self, path: str | None) -> bool:
        if self.region_path is None:
            return True
        if path is None:
            return False
        return path == self.region_path or path.startswith(self.region_path + "/")


SYSTEM = Scope(None, "system", "admin", None)


def device_scope(device_id: str) -> Scope:
    """A device acting on its own case (cancel within the grace period)."""
    return Scope(None, "device:%s" % device_id, "device", None)


def escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def in_scope(
    column: InstrumentedAttribute[str | None] | ColumnElement[Any], scope: Scope
) -> ColumnElement[bool]:
    """SQL condition: the row's region path lies in the scope's subtree."""
    return in_subtree(column, scope.region_path)


def in_subtree(
    column: InstrumentedAttribute[str | None] | ColumnElement[Any], path: str | None
) -> ColumnElement[bool]:
    """SQL condition: the row's region path is ``path`` or below it (None: anywhere at all)."""
    if path is None:
        return true()
    return or_(column == path, column.like(escape_like(path) + "/%", escape="\\"))


def require_admin(scope: Scope) -> None:
    from server.errors import Forbidden

    if scope.role != "admin":
        raise Forbidden("only an admin may change this")


def require_within(scope: Scope, path: str | None, what: str) -> None:
    """The object a request addresses sits at ``path`` (its current place): outside the
    caller's subtree it does not exist for them, so the answer is the one for a missing object."""
    from server.errors import NotFound

    if not scope.covers(path):
        raise NotFound("%s not found" % what)


def require_region_below(scope: Scope, path: str, what: str) -> None:
    """A region an admin creates or changes lies below its own: the region it is scoped to is
    kept by the admins above it, and one outside its subtree does not exist for it."""
    from server.errors import Forbidden

    require_within(scope, path, what)
    if path == scope.region_path:
        raise Forbidden("your own region %s is kept by the admins above you" % path, reason="outside_scope")


def require_destination(scope: Scope, path: str | None, what: str) -> None:
    """Where a write puts an object, once it is done: inside the caller's subtree. A place the
    caller names outside its subtree is refused earlier as unknown; this catches the places a
    write derives (a location's grid, a gateway's station) and leaving an object unplaced,
    which only an admin of the whole tree may do."""
    from server.errors import Forbidden

    if not scope.covers(path):
        raise Forbidden(
            "%s would end up outside your region %s" % (what, scope.region_path), reason="outside_scope"
        )
