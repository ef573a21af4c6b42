"""INSERT ... ON CONFLICT DO NOTHING for both dialects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session


def _column_names(model: type[DeclarativeBase]) -> dict[str, str]:
    """ORM attribute name -> table column name (they differ where a column is renamed)."""
    return {attr.key: attr.columns[0].name for attr in inspect(model).column_attrs}


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
    names = _column_names(model)
    # A Core statement does not autoflush: pending ORM changes (a case just closed) must be in
    # the database before the unique index judges this row.
    session.flush()
    # The Core table, not the ORM entity: the ORM's bulk path costs more than the statement.
    stmt = (
        dialect.insert(model.__table__)
        .values({names[k]: v for k, v in values.items()})
        .on_conflict_do_nothing(index_elements=list(index_elements), index_where=index_where)
        .returning(*inspect(model).primary_key)
    )
    return session.execute(stmt).first() is not None


def insert_ignore_many(
    session: Session,
    model: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    index_elements: Sequence[Any],
) -> set[Any]:
    """Insert many rows in a few statements, skipping existing keys; the primary keys inserted.

    One multi-row statement instead of one per row: ingest of a 500-event batch spends its time
    in the database, not in building and sending 500 statements.
    """
    if not rows:
        return set()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.flush()  # as in insert_ignore
    (key,) = inspect(model).primary_key
    names = _column_names(model)
    # One compiled statement run over all rows: SQLAlchemy's "insertmanyvalues" turns it into
    # multi-row INSERTs and hands back RETURNING rows for the rows actually inserted.
    stmt = (
        dialect.insert(model.__table__)
        .on_conflict_do_nothing(index_elements=list(index_elements))
        .returning(key)
    )
    params = [{names[k]: v for k, v in row.items()} for row in rows]
    inserted: set[Any] = set(session.scalars(stmt, params))
    return inserted
