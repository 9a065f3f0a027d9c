"""revisions url aliases page snapshots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:42:33
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("headline", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("extraction", sa.JSON(), nullable=True),
        sa.Column("headline_changed", sa.Boolean(), nullable=False),
        sa.Column("paragraphs_added", sa.Integer(), nullable=False),
        sa.Column("paragraphs_removed", sa.Integer(), nullable=False),
        sa.Column("paragraphs_changed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_revision_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_revision")),
        sa.UniqueConstraint("article_id", "number", name=op.f("uq_article_revision_article_id")),
    )
    op.create_table(
        "article_url",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("url_key", sa.String(length=2048), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_url_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_article_url")),
        sa.UniqueConstraint("url_key", name=op.f("uq_article_url_url_key")),
    )
    with op.batch_alter_table("article_url", schema=None) as batch_op:
        batch_op.create_index("ix_article_url_article_id", ["article_id"], unique=False)

    op.create_table(
        "page_snapshot",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("final_url", sa.String(length=2048), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("charset", sa.String(length=64), nullable=True),
        sa.Column("etag", sa.String(length=1024), nullable=True),
        sa.Column("last_modified", sa.String(length=255), nullable=True),
        sa.Column("raw_size", sa.Integer(), nullable=False),
        sa.Column("raw_zlib", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_page_snapshot_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_page_snapshot")),
    )
    with op.batch_alter_table(
        "article", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("top_image", sa.String(length=2048), nullable=True))
        batch_op.add_column(
            sa.Column("tags", sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch_op.add_column(sa.Column("extraction", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch_op.drop_constraint(batch_op.f("uq_article_canonical_url"), type_="unique")


def downgrade() -> None:
    with op.batch_alter_table(
        "article", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_article_canonical_url"), ["canonical_url"])
        batch_op.drop_column("revision")
        batch_op.drop_column("extraction")
        batch_op.drop_column("tags")
        batch_op.drop_column("top_image")
        batch_op.drop_column("description")
        batch_op.drop_column("modified_at")

    op.drop_table("page_snapshot")
    with op.batch_alter_table("article_url", schema=None) as batch_op:
        batch_op.drop_index("ix_article_url_article_id")

    op.drop_table("article_url")
    op.drop_table("article_revision")
