"""The CLI import and a real uvicorn process: data survives a restart."""

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select

from app.cli import import_paths
from app.config import Settings
from app.models import Article
from tests.conftest import HTTP_TIMEOUT, ROOT, SEEDS, LiveServer, seed_text


def stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Article)).scalar_one()


def test_cli_imports_a_folder_and_is_idempotent(
    db: Engine, settings: Settings, tmp_path: Path
) -> None:
    shutil.copy(SEEDS / "000_6bc365aecf700d82.txt", tmp_path / "a.txt")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.txt").write_text("Second story\n\nIts body text.\n", encoding="utf-8")
    (tmp_path / "nested" / "bad.txt").write_text("Only a headline\n", encoding="utf-8")
    (tmp_path / "c.ndjson").write_text('{"headline": "Third", "body": "Body."}\n{oops\n')
    counts = import_paths(settings, [tmp_path], progress=False)
    assert counts == {
        "created": 3,
        "duplicate": 0,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "error": 2,
    }
    again = import_paths(settings, [tmp_path], progress=False)
    assert again == {
        "created": 0,
        "duplicate": 3,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "error": 2,
    }
    assert stored(db) == 3


def test_cli_runs_as_a_module(db: Engine, database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "import", "--no-progress", str(SEEDS)],
        cwd=ROOT,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"created": 1' in result.stdout
    assert stored(db) == 1


def test_data_survives_a_restart_of_a_real_server(db: Engine, database_url: str) -> None:
    server = LiveServer(database_url)
    try:
        created = httpx.post(
            f"{server.url}/v1/articles",
            content=seed_text().encode(),
            headers={"content-type": "text/plain"},
            timeout=HTTP_TIMEOUT,
        )
        assert created.status_code == 201
    finally:
        server.stop()
    server = LiveServer(database_url, port=server.port)
    try:
        fetched = httpx.get(f"{server.url}{created.headers['location']}", timeout=HTTP_TIMEOUT)
        assert fetched.status_code == 200
        assert fetched.json()["headline"] == created.json()["headline"]
        assert fetched.json()["related_links"] == created.json()["related_links"]
    finally:
        server.stop()
