"""What the sign-in page must know before anyone signs in: is this server set up?"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.api.deps import ServicesDep
from server.db.models import User

router = APIRouter(tags=["auth"])


class SetupState(BaseModel):
    admin_missing: bool = Field(
        description="no active admin user exists: nobody can sign in until one is created"
        " (SHOUWANG_ADMIN_PASSWORD, or a seed file)"
    )


def admin_exists(session: Session) -> bool:
    admin = select(User.id).where(User.role == "admin", User.active.is_(True)).limit(1)
    return session.scalar(admin) is not None


@router.get("/setup", response_model=SetupState, summary="Whether the server is set up (no token needed)")
def setup_state(svc: ServicesDep) -> SetupState:
    with svc.db.read() as session:
        return SetupState(admin_missing=not admin_exists(session))
