"""A case as a CAP 1.2 alert, for other alerting systems (DESIGN.md section 5, interop)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from server.api.bounds import RowId
from server.api.deps import ScopeDep, ServicesDep
from server.api.errors import ERRORS
from server.cap import MEDIA_TYPE, CaseFacts, cap_document
from server.data.cases import case_actions, case_in_scope
from server.db.models import Region
from server.places import region_chain, resolve_place

router = APIRouter(tags=["cases"])


@router.get(
    "/cases/{case_id}/cap",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "OASIS CAP 1.2 alert message"}, **ERRORS},
    summary="The case as a CAP 1.2 message: Alert when opened, then Update, or Cancel",
)
def case_cap(case_id: RowId, svc: ServicesDep, scope: ScopeDep) -> Response:
    with svc.db.read() as session:
        case = case_in_scope(session, scope, case_id)
        actions = case_actions(session, case.id)
        region = session.get(Region, case.region_id) if case.region_id is not None else None
        chain = region_chain(session, region) if region is not None else []
        place = resolve_place(session, case.device_id, case.gateway_id)
        body = cap_document(CaseFacts(case, actions, place, chain))
    return Response(body, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-store"})
