"""idempotency records name the article their stored response shows

A stored response of POST /v1/articles or /reextract contains the article's text. Deleting
the article withdraws such responses (found by this column); the foreign key's ON DELETE
CASCADE removes any that a concurrent request stored while the delete ran. Rows kept
before this revision get their article from the Location header (POST /v1/articles) or the
path (reextract); those whose article is already gone are withdrawn here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:00:00
"""

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHOWN = re.compile(r"/v1/articles/(\d+)(?:/reextract)?")


def upgrade() -> None:
    with op.batch_alter_table("idempotency_key") as batch:
        batch.add_column(sa.Column("article_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_idempotency_key_article_id_article"),
            "article",
            ["article_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(batch.f("ix_idempotency_key_article_id"), ["article_id"])
    backfill(op.get_bind())


def shown_article(path: str, status: int, headers: list[list[str]] | None) -> int | None:
    """The article a stored 2xx response of POST /v1/articles or /reextract shows."""
    if not 200 <= status < 300:
        return None
    location = dict((k.lower(), v) for k, v in headers or []).get("location", "")
    found = SHOWN.fullmatch(path.partition("?")[0]) or SHOWN.fullmatch(location)
    return int(found.group(1)) if found else None


def backfill(conn: Any) -> None:
    records = sa.table(
        "idempotency_key",
        sa.column("id", sa.Integer),
        sa.column("path", sa.String),
        sa.column("status", sa.Integer),
        sa.column("response_headers", sa.JSON),
        sa.column("response_body", sa.LargeBinary),
        sa.column("article_id", sa.Integer),
    )
    article = sa.table("article", sa.column("id", sa.Integer))
    rows = conn.execute(
        sa.select(records.c.id, records.c.path, records.c.status, records.c.response_headers).where(
            records.c.status.is_not(None)
        )
    )
    shown = {r.id: a for r in rows if (a := shown_article(r.path, r.status, r.response_headers))}
    wanted, live = sorted(set(shown.values())), set()
    for start in range(0, len(wanted), 500):  # bound the IN list
        chosen = article.c.id.in_(wanted[start : start + 500])
        live.update(conn.scalars(sa.select(article.c.id).where(chosen)))
    by_id = records.c.id == sa.bindparam("rid")
    kept = [{"rid": r, "aid": a} for r, a in shown.items() if a in live]
    gone = [{"rid": r} for r, a in shown.items() if a not in live]
    if kept:
        conn.execute(sa.update(records).where(by_id).values(article_id=sa.bindparam("aid")), kept)
    if gone:
        withdrawn = {"status": 410, "response_headers": sa.null(), "response_body": None}
        conn.execute(sa.update(records).where(by_id).values(**withdrawn), gone)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_key") as batch:
        batch.drop_index(batch.f("ix_idempotency_key_article_id"))
        batch.drop_constraint(batch.f("fk_idempotency_key_article_id_article"), type_="foreignkey")
        batch.drop_column("article_id")
