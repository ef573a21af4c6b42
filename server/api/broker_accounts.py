"""Broker accounts for duty rooms: admins issue, list and revoke them within their subtree.

A duty-room account reads its region subtree's alerts and nothing else; server accounts are
issued on the server machine (``shouwang server server-credentials``) and only listed here,
to admins of the whole tree.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from server.api.deps import ScopeDep, ServicesDep
from server.api.paging import Page
from server.api.schemas import ErrorBody
from server.db.models import BrokerAccount, Region
from server.errors import Forbidden, NotFound
from server.mqtt_auth import duty_topic, issue_duty_account, revoke_account, write_auth_files
from server.scope import Scope, in_scope, require_admin
from server.services import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["broker accounts"])
ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody},
    403: {"model": ErrorBody},
    404: {"model": ErrorBody},
    422: {"model": ErrorBody},
}


class DutyAccountIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"region": "c01/t03"}})
    region: str | None = Field(
        default=None, max_length=400, description="region path; null for the whole tree (root admins)"
    )


class BrokerCredentials(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"username": "duty.c01.t03", "password": "shown once", "topic": "sw/v1/duty/c01/t03/#"}
        }
    )
    username: str
    password: str
    topic: str


class BrokerAccountOut(BaseModel):
    username: str
    kind: str
    region: str | None
    topic: str
    issued_at: datetime
    issued_by: str


def _visible(scope: Scope) -> ColumnElement[bool]:
    """Duty accounts inside the caller's subtree; server accounts only for the whole tree."""
    if scope.is_root:
        return BrokerAccount.kind.in_(("duty", "server"))
    return (BrokerAccount.kind == "duty") & in_scope(Region.path, scope)


def _rewrite_files(svc: Services, session: Session) -> None:
    if svc.settings.mqtt_auth_dir is not None:
        write_auth_files(
            session, svc.settings.mqtt_auth_dir, svc.topics.prefix, *(svc.settings.mqtt_login or (None, None))
        )


@router.post(
    "/broker-accounts/duty",
    response_model=BrokerCredentials,
    responses=ERRORS,
    summary="Issue (or reissue) the read-only broker account of a region subtree's duty room; "
    "the password is shown once",
)
def issue_duty(body: DutyAccountIn, svc: ServicesDep, scope: ScopeDep) -> BrokerCredentials:
    require_admin(scope)
    path = (body.region.strip("/") or None) if body.region is not None else None
    if path is None and not scope.is_root:
        raise Forbidden("only an admin of the whole tree may issue the whole tree's duty account")
    with svc.db.write() as s:
        region = None
        if path is not None:
            region = s.scalars(select(Region).where(Region.path == path)).one_or_none()
            # A region outside the caller's subtree does not exist for them.
            if region is None or not scope.covers(region.path):
                raise NotFound("region %s not found" % path)
        username, password = issue_duty_account(s, region, scope.username, svc.clock())
        _rewrite_files(svc, s)
    log.info("duty-room broker account %s issued by %s", username, scope.username)
    return BrokerCredentials(username=username, password=password, topic=duty_topic(svc.topics.prefix, path))


@router.get("/broker-accounts", response_model=Page[BrokerAccountOut], responses=ERRORS)
def list_accounts(
    svc: ServicesDep,
    scope: ScopeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> Page[BrokerAccountOut]:
    require_admin(scope)
    stmt = (
        select(BrokerAccount, Region.path)
        .outerjoin(Region, BrokerAccount.region_id == Region.id)
        .where(_visible(scope))
        .order_by(BrokerAccount.username)
    )
    with svc.db.read() as s:
        total = s.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        rows = s.execute(stmt.limit(limit).offset(offset)).all()
        items = [
            BrokerAccountOut(
                username=a.username,
                kind=a.kind,
                region=path,
                topic=duty_topic(svc.topics.prefix, path) if a.kind == "duty" else "%s/#" % svc.topics.prefix,
                issued_at=a.issued_at,
                issued_by=a.issued_by,
            )
            for a, path in rows
        ]
    return Page[BrokerAccountOut](items=items, total=total, limit=limit, offset=offset)


@router.delete(
    "/broker-accounts/{username}", status_code=204, responses=ERRORS, summary="Revoke a broker account"
)
def revoke(username: str, svc: ServicesDep, scope: ScopeDep) -> Response:
    require_admin(scope)
    with svc.db.write() as s:
        visible = s.execute(
            select(BrokerAccount.username)
            .outerjoin(Region, BrokerAccount.region_id == Region.id)
            .where(BrokerAccount.username == username, _visible(scope))
        ).one_or_none()
        if visible is None:
            raise NotFound("broker account %s not found" % username)
        revoke_account(s, username)
        _rewrite_files(svc, s)
    log.info("broker account %s revoked by %s", username, scope.username)
    return Response(status_code=204)
