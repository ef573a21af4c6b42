"""Broker accounts for duty rooms: admins issue, list and revoke them within their subtree.

A duty-room account reads its region subtree's alerts and nothing else; server accounts are
issued on the server machine (``shouwang server server-credentials``) and only listed here,
to admins of the whole tree.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from server.api.bounds import BrokerUserName, RegionPath
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.api.paging import Limit, Offset, Page, page_rows
from server.data.broker_accounts import account_in_scope, broker_account_view
from server.data.regions import find_region
from server.errors import Forbidden, NotFound
from server.mqtt_auth import duty_topic, issue_duty_account, revoke_account, write_auth_files
from server.scope import require_admin
from server.services import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["broker accounts"], responses=ERRORS)


class DutyAccountIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"region": "c01/t03"}})
    region: RegionPath | None = Field(
        default=None, description="region path; null for the whole tree (root admins)"
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


def _rewrite_files(svc: Services, session: Session) -> None:
    if svc.settings.mqtt_auth_dir is not None:
        write_auth_files(
            session, svc.settings.mqtt_auth_dir, svc.topics.prefix, *(svc.settings.mqtt_login or (None, None))
        )


@router.post(
    "/broker-accounts/duty",
    response_model=BrokerCredentials,
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
            region = find_region(s, path)
            # A region outside the caller's subtree does not exist for them.
            if region is None or not scope.covers(region.path):
                raise NotFound("region %s not found" % path)
        username, password = issue_duty_account(s, region, scope.username, svc.clock())
        _rewrite_files(svc, s)
    log.info("duty-room broker account %s issued by %s", username, scope.username)
    return BrokerCredentials(username=username, password=password, topic=duty_topic(svc.topics.prefix, path))


@router.get("/broker-accounts", response_model=Page[BrokerAccountOut])
def list_accounts(
    svc: ServicesDep, scope: ScopeDep, limit: Limit = 100, offset: Offset = 0
) -> Page[BrokerAccountOut]:
    require_admin(scope)
    prefix = svc.topics.prefix
    with svc.db.read() as s:
        total, rows = page_rows(s, broker_account_view(scope), limit, offset)
    # The topic is not stored: it follows from the kind and the region.
    items = [
        BrokerAccountOut.model_validate(
            {
                **row._mapping,
                "topic": duty_topic(prefix, row.region) if row.kind == "duty" else "%s/#" % prefix,
            }
        )
        for row in rows
    ]
    return Page[BrokerAccountOut](items=items, total=total, limit=limit, offset=offset)


@router.delete("/broker-accounts/{username}", status_code=204, summary="Revoke a broker account")
def revoke(username: BrokerUserName, svc: ServicesDep, scope: ScopeDep) -> Response:
    require_admin(scope)
    with svc.db.write() as s:
        if not account_in_scope(s, scope, username):
            raise NotFound("broker account %s not found" % username)
        revoke_account(s, username)
        _rewrite_files(svc, s)
    log.info("broker account %s revoked by %s", username, scope.username)
    return Response(status_code=204)
