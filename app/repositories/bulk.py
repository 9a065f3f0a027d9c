"""Many narrow rows at once, straight to the driver.

For rows of a few ints and strings, SQLAlchemy's per-row parameter processing costs more
than the database's own insert (an import writes 20 band keys per article). These helpers
hand driver-ready tuples to sqlite3's executemany or to Postgres COPY, inside the
session's transaction. Only for plain values (ints, str, None): no type conversion runs.
"""

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import SQLColumnExpression, Table, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """INSERT `rows` (tuples in the order of `columns`) into `table`."""
    if not rows:
        return
    names = ", ".join(columns)  # table and column names come from the models, not input
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # psycopg, the one Postgres driver configured: COPY is its own API, not DB-API's.
        driver: object = connection.connection.dbapi_connection
        assert isinstance(driver, psycopg.Connection)
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", list(rows))


def in_many(expression: SQLColumnExpression[Any], values: Sequence[int], dialect: str) -> Any:
    """`expression IN values` as one bound parameter, not one per value: an array on
    Postgres, a JSON array read by json_each on SQLite (no compile per list length)."""
    if dialect == "postgresql":
        return expression == func.any(bindparam("many", list(values), type_=ARRAY(BigInteger)))
    each = func.json_each(bindparam("many", json.dumps(list(values)))).table_valued("value")
    return expression.in_(select(column("value")).select_from(each))
