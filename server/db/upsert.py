"""INSERT ... ON CONFLICT DO NOTHING for both dialects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def insert_ignore(
    session: Session,
    model: type[DeclarativeBase],
    values: dict[str, Any],
    index_elements: Sequence[Any],
    index_where: Any = None,
) -> bool:
    """Insert one row unless the unique key exists; True when a row was inserted.

    ``index_where`` names the predicate of a partial unique index (a column or expression).
    RETURNING tells the two cases apart; rowcount does not, on every driver.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(index_elements), index_where=index_where)
        .returning(*inspect(model).primary_key)
    )
    return session.execute(stmt).first() is not None
