"""Pagination: the ``limit`` and ``offset`` parameters, the page body, and running a page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from server.api.bounds import MAX_ID

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="items to skip")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def page_rows(
    session: Session, stmt: Select[*tuple[Any, ...]], limit: int, offset: int
) -> tuple[int, Sequence[Any]]:
    """The total of ``stmt`` (already filtered by scope and ordered) and one page of it."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    result = session.execute(stmt.limit(limit).offset(offset))
    # select(Case) yields Case objects; a view of labelled columns yields rows whose attributes
    # carry the labels. Both validate with from_attributes.
    rows = result.scalars().all() if len(stmt.column_descriptions) == 1 else result.all()
    return total, rows


def paginate(
    session: Session, stmt: Select[*tuple[Any, ...]], model: type[M], limit: int, offset: int
) -> Page[M]:
    """One page of ``stmt`` as ``model`` objects, and the total it has."""
    total, rows = page_rows(session, stmt, limit, offset)
    # Page[model] is the very class the route declares (pydantic caches its parametrisations).
    page = cast("type[Page[M]]", Page.__class_getitem__(model))
    return page(items=[model.model_validate(row) for row in rows], total=total, limit=limit, offset=offset)
