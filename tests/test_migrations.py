"""Alembic owns the schema: one head, upgrade/downgrade both ways, models match migrations."""

import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import JSON, Engine, column, create_engine, inspect, select, table, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.models import Base, IdempotencyRecord, include_in_autogenerate, utcnow
from tests.conftest import alembic_config


@pytest.fixture
def scratch_engine(database_url: str, tmp_path) -> Iterator[Engine]:
    """An empty database of the same kind as the test database, dropped afterwards."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'scratch.db'}"))
        yield engine
        engine.dispose()
        return
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine = create_engine(url.set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()


def test_exactly_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_upgrade_on_empty_then_models_match(scratch_engine: Engine) -> None:
    with scratch_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with scratch_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_in_autogenerate}
            ),
            Base.metadata,
        )
    assert diff == []


def test_downgrade_to_base_and_up_again(scratch_engine: Engine) -> None:
    with scratch_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with scratch_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert set(inspect(scratch_engine).get_table_names()) <= {"alembic_version"}
    with scratch_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    assert {"article", "source", "related_link"} <= set(inspect(scratch_engine).get_table_names())


def test_postgres_search_vectors_are_kept_in_the_row(scratch_engine: Engine) -> None:
    """Ranking reads the vector of every match: out of line (TOAST) each read is a lookup."""
    if scratch_engine.dialect.name != "postgresql":
        pytest.skip("a Postgres storage setting")
    storage = text(
        "SELECT attstorage FROM pg_attribute"
        " WHERE attrelid = 'article'::regclass AND attname = 'search_vector'"
    )
    with scratch_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    with scratch_engine.connect() as conn:
        assert conn.execute(storage).scalar_one() == "m"
    with scratch_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    with scratch_engine.connect() as conn:
        assert conn.execute(storage).scalar_one() == "x"


def test_upgrade_withdraws_kept_responses_of_deleted_articles(scratch_engine: Engine) -> None:
    """Idempotency records kept before revision 0008 get the article they show (from the
    Location header, or the reextract path); those of articles deleted already lose it."""
    with scratch_engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    url = scratch_engine.url.render_as_string(hide_password=False)
    with TestClient(create_app(Settings(database_url=url))) as client:
        live = client.post("/v1/articles", json={"headline": "Kept", "body": "Still here."})
    live_id = live.json()["id"]
    with scratch_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0008-1")
    records = table(
        "idempotency_key", *(column(name) for name in ("owner", "key", "method", "path")),
        column("status"), column("response_headers", JSON), column("response_body"),
        column("created_at"),
    )  # fmt: skip
    kept = {  # key: (path, Location, body)
        "live": ("/v1/articles", f"/v1/articles/{live_id}", b'{"headline": "Kept"}'),
        "gone": ("/v1/articles?restore=true", "/v1/articles/999", b'{"headline": "Secret"}'),
        "re": ("/v1/articles/998/reextract", None, b'{"article": {"body": "Secret"}}'),
        "imp": ("/v1/imports", None, b'{"results": [{"id": 997}]}'),
    }
    with scratch_engine.begin() as conn:
        for key, (path, location, body) in kept.items():
            headers = [["content-type", "application/json"]]
            conn.execute(
                records.insert().values(
                    owner="anonymous", key=key, method="POST", path=path, status=200,
                    response_headers=headers + ([["location", location]] if location else []),
                    response_body=body, created_at=utcnow(),
                )
            )  # fmt: skip
        command.upgrade(alembic_config(conn), "head")
    with scratch_engine.connect() as conn:
        rows = conn.execute(
            select(IdempotencyRecord.key, IdempotencyRecord.status, IdempotencyRecord.article_id,
                   IdempotencyRecord.response_body)
        ).all()  # fmt: skip
    found = {key: (status, article, body) for key, status, article, body in rows}
    assert found == {
        "live": (200, live_id, kept["live"][2]),
        "gone": (410, None, None),
        "re": (410, None, None),
        "imp": (200, None, kept["imp"][2]),
    }
