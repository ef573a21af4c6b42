"""Broker accounts that are not gateways (server instances, duty rooms): what an admin sees."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from server.db.models import BrokerAccount, Region
from server.scope import Scope, in_scope


def visible(scope: Scope) -> ColumnElement[bool]:
    """Duty accounts inside the caller's subtree; server accounts only for the whole tree."""
    if scope.is_root:
        return BrokerAccount.kind.in_(("duty", "server"))
    return (BrokerAccount.kind == "duty") & in_scope(Region.path, scope)


def broker_account_view(scope: Scope) -> Select[*tuple[Any, ...]]:
    """The accounts the scope sees, with their region's path, by name."""
    return (
        select(
            BrokerAccount.username,
            BrokerAccount.kind,
            Region.path.label("region"),
            BrokerAccount.issued_at,
            BrokerAccount.issued_by,
        )
        .outerjoin(Region, BrokerAccount.region_id == Region.id)
        .where(visible(scope))
        .order_by(BrokerAccount.username)
    )


def account_in_scope(session: Session, scope: Scope, username: str) -> bool:
    row = session.execute(
        select(BrokerAccount.username)
        .outerjoin(Region, BrokerAccount.region_id == Region.id)
        .where(BrokerAccount.username == username, visible(scope))
    ).one_or_none()
    return row is not None
