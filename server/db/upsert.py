"""INSERT ... ON CONFLICT DO NOTHING for both dialects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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


# Rows per statement: SQLite allows 32,766 bound parameters; events have a dozen columns.
_MANY_CHUNK = 1000


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), _MANY_CHUNK):
        yield rows[start : start + _MANY_CHUNK]


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
    (key,) = inspect(model).primary_key
    inserted: set[Any] = set()
    for chunk in _chunks(rows):
        stmt = (
            dialect.insert(model)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=list(index_elements))
            .returning(key)
        )
        inserted.update(session.scalars(stmt))
    return inserted
