"""search clusters changes tombstones

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:56:41
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Languages whose Postgres text-search configuration stems words; others use 'simple'.
PG_LANGUAGES = {
    "ar": "arabic", "da": "danish", "de": "german", "en": "english", "es": "spanish",
    "fi": "finnish", "fr": "french", "hu": "hungarian", "id": "indonesian", "it": "italian",
    "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sv": "swedish", "tr": "turkish",
}  # fmt: skip

FTS5_TRIGGERS = [
    """CREATE TRIGGER article_fts_insert AFTER INSERT ON article BEGIN
        INSERT INTO article_fts(rowid, headline, body) VALUES (new.id, new.headline, new.body);
    END""",
    """CREATE TRIGGER article_fts_delete AFTER DELETE ON article BEGIN
        INSERT INTO article_fts(article_fts, rowid, headline, body)
        VALUES ('delete', old.id, old.headline, old.body);
    END""",
    """CREATE TRIGGER article_fts_update AFTER UPDATE OF headline, body ON article BEGIN
        INSERT INTO article_fts(article_fts, rowid, headline, body)
        VALUES ('delete', old.id, old.headline, old.body);
        INSERT INTO article_fts(rowid, headline, body) VALUES (new.id, new.headline, new.body);
    END""",
]


def pg_config_expression() -> str:
    """The regconfig for an article's language, as an immutable SQL expression."""
    cases = " ".join(
        f"WHEN '{code}' THEN '{name}'::regconfig" for code, name in PG_LANGUAGES.items()
    )
    primary = "lower(split_part(coalesce(language, ''), '-', 1))"
    return f"(CASE {primary} {cases} ELSE 'simple'::regconfig END)"


def upgrade() -> None:
    op.create_table(
        "change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tombstone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=2100), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tombstone")),
        sa.UniqueConstraint("key", name=op.f("uq_tombstone_key")),
    )
    op.create_table(
        "article_band",
        sa.Column("band_key", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_band_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("band_key", "article_id", name=op.f("pk_article_band")),
    )
    op.create_index("ix_article_band_article_id", "article_band", ["article_id"])
    # Plain ADD COLUMN (no batch copy), so SQLite keeps the table and its AUTOINCREMENT.
    op.add_column("article", sa.Column("domain", sa.String(length=255), nullable=True))
    op.add_column("article", sa.Column("cluster_id", sa.Integer(), nullable=True))
    op.add_column("article", sa.Column("signature", sa.LargeBinary(), nullable=True))
    op.create_index("ix_article_cluster_id", "article", ["cluster_id"])
    op.create_index("ix_article_domain_id", "article", ["domain", "id"])
    if op.get_bind().dialect.name == "postgresql":
        _create_tsvector()
    else:
        _create_fts5()


def _create_fts5() -> None:
    # External-content FTS5 kept in sync by triggers, in the writing transaction itself.
    # NOTE: a later batch migration that copies `article` drops these triggers: recreate them.
    op.execute(
        "CREATE VIRTUAL TABLE article_fts USING fts5(headline, body, content='article', "
        "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')"
    )
    for trigger in FTS5_TRIGGERS:
        op.execute(trigger)
    op.execute("INSERT INTO article_fts(article_fts) VALUES ('rebuild')")


def _create_tsvector() -> None:
    config = pg_config_expression()
    op.execute(
        "ALTER TABLE article ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
        f"setweight(to_tsvector({config}, headline), 'A') || "
        f"setweight(to_tsvector({config}, body), 'B')) STORED"
    )
    op.execute("CREATE INDEX ix_article_search_vector ON article USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_article_search_vector")
        op.execute("ALTER TABLE article DROP COLUMN search_vector")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER article_fts_{name}")
        op.execute("DROP TABLE article_fts")
    op.drop_index("ix_article_domain_id", table_name="article")
    op.drop_index("ix_article_cluster_id", table_name="article")
    with op.batch_alter_table(
        "article", schema=None, table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("cluster_id")
        batch_op.drop_column("domain")
    op.drop_index("ix_article_band_article_id", table_name="article_band")
    op.drop_table("article_band")
    op.drop_table("tombstone")
    op.drop_table("change")
