"""SQLite: bulk imports index a whole batch in FTS5 with one statement

The insert trigger indexed each new article with a statement of its own, which cost FTS5
~0.16 ms an article against ~0.07 ms for one statement per batch of 500. A batch writer
now marks its transaction (a row in `article_fts_deferred`, seen by nobody else: SQLite
has one writer at a time and the row is deleted before commit), inserts its articles with
the trigger standing aside, then indexes them all with one INSERT ... SELECT. Other
writers (single articles, other tools) keep the trigger. Measured on 20,000 articles in
transactions of 500: raw inserts 3,700 -> 5,600 articles/s.
Postgres: nothing to do (its search vector is a generated column).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PER_ROW = """CREATE TRIGGER article_fts_insert AFTER INSERT ON article BEGIN
        INSERT INTO article_fts(rowid, headline, body) VALUES (new.id, new.headline, new.body);
    END"""
UNLESS_DEFERRED = """CREATE TRIGGER article_fts_insert AFTER INSERT ON article
    WHEN NOT EXISTS (SELECT 1 FROM article_fts_deferred) BEGIN
        INSERT INTO article_fts(rowid, headline, body) VALUES (new.id, new.headline, new.body);
    END"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TABLE article_fts_deferred (id INTEGER PRIMARY KEY)")
        op.execute("DROP TRIGGER article_fts_insert")
        op.execute(UNLESS_DEFERRED)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER article_fts_insert")
        op.execute(PER_ROW)
        op.execute("DROP TABLE article_fts_deferred")
