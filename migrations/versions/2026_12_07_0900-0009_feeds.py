"""feeds: subscriptions, their entries and recent errors, per-host politeness

`feed` (a subscribed feed or sitemap and its schedule), `feed_error` (its recent failed
polls), `feed_entry` (each entry seen: the article fetched for it, the feed's metadata),
`fetch_host` and `host_lease` (request spacing and concurrency per host, shared by every
worker). The jobs that poll and fetch live in procrastinate's tables (0007).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("url_key", sa.String(length=2048), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.Column("title", sa.String(length=1000), nullable=True),
        sa.Column("site_url", sa.String(length=2048), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("fixed_interval", sa.Integer(), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=True),
        sa.Column("ttl", sa.Integer(), nullable=True),
        sa.Column("etag", sa.String(length=1024), nullable=True),
        sa.Column("last_modified", sa.String(length=255), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_poll_seconds", sa.Float(), nullable=True),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("entries_seen", sa.Integer(), nullable=False),
        sa.Column("articles_created", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["feed.id"], name=op.f("fk_feed_parent_id_feed"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed")),
        sa.UniqueConstraint("url_key", name=op.f("uq_feed_url_key")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.create_index("ix_feed_parent_id", ["parent_id"], unique=False)
        batch_op.create_index("ix_feed_state_next_poll_at", ["state", "next_poll_at"], unique=False)

    op.create_table(
        "fetch_host",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("next_allowed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=True),
        sa.Column("min_delay", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_fetch_host")),
    )
    op.create_table(
        "host_lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_lease")),
    )
    with op.batch_alter_table("host_lease", schema=None) as batch_op:
        batch_op.create_index("ix_host_lease_host_expires_at", ["host", "expires_at"], unique=False)

    op.create_table(
        "feed_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feed.id"], name=op.f("fk_feed_error_feed_id_feed"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_error")),
    )
    with op.batch_alter_table("feed_error", schema=None) as batch_op:
        batch_op.create_index("ix_feed_error_feed_id_id", ["feed_id", "id"], unique=False)

    op.create_table(
        "feed_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("url_key", sa.String(length=2048), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_feed_entry_article_id_article"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feed.id"], name=op.f("fk_feed_entry_feed_id_feed"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_entry")),
        sa.UniqueConstraint("feed_id", "url_key", name=op.f("uq_feed_entry_feed_id")),
    )
    with op.batch_alter_table("feed_entry", schema=None) as batch_op:
        batch_op.create_index("ix_feed_entry_article_id", ["article_id"], unique=False)
        batch_op.create_index(
            "ix_feed_entry_feed_id_article_id", ["feed_id", "article_id"], unique=False
        )
        batch_op.create_index("ix_feed_entry_url_key", ["url_key"], unique=False)
        batch_op.create_index(
            "ix_feed_entry_status_first_seen_at", ["status", "first_seen_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feed_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_entry_status_first_seen_at")
        batch_op.drop_index("ix_feed_entry_url_key")
        batch_op.drop_index("ix_feed_entry_feed_id_article_id")
        batch_op.drop_index("ix_feed_entry_article_id")

    op.drop_table("feed_entry")
    with op.batch_alter_table("feed_error", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_error_feed_id_id")

    op.drop_table("feed_error")
    with op.batch_alter_table("host_lease", schema=None) as batch_op:
        batch_op.drop_index("ix_host_lease_host_expires_at")

    op.drop_table("host_lease")
    op.drop_table("fetch_host")
    with op.batch_alter_table("feed", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_state_next_poll_at")
        batch_op.drop_index("ix_feed_parent_id")

    op.drop_table("feed")
