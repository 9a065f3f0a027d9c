"""The CLI import and a real uvicorn process: data survives a restart."""

import json
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
from tests.site_server import Site, article_html


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


def run_cli(
    database_url: str, *args: str, stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_fetches_url_items_as_the_api_does(
    db: Engine, settings: Settings, tmp_path: Path, site: Site
) -> None:
    url = site.page("/news/storm", article_html("Storm closes ports", ["Ships waited."], "/c"))
    (tmp_path / "urls.ndjson").write_text(json.dumps({"url": url}) + "\n")
    allowed = settings.model_copy(update={"fetch_allowed_networks": "127.0.0.1/32"})
    counts = import_paths(allowed, [tmp_path / "urls.ndjson"], progress=False)
    assert counts["created"] == 1, counts
    with db.connect() as conn:
        headline, stored_url = conn.execute(select(Article.headline, Article.url)).one()
    assert (headline, stored_url) == ("Storm closes ports", url)


def test_cli_imports_html_files_as_html(db: Engine, settings: Settings, tmp_path: Path) -> None:
    html = article_html("Harbour reopens after the storm", ["Ships came back on Tuesday."], "/h")
    (tmp_path / "page.html").write_text(html, encoding="utf-8")
    (tmp_path / "saved-page").write_text(html.replace("Harbour", "Airport"), encoding="utf-8")
    counts = import_paths(settings, [tmp_path, tmp_path / "saved-page"], progress=False)
    assert counts["created"] == 2, counts
    with db.connect() as conn:
        headlines = set(conn.execute(select(Article.headline)).scalars())
    assert headlines == {"Harbour reopens after the storm", "Airport reopens after the storm"}


def test_cli_names_file_and_line_of_a_bad_item_and_fails(
    db: Engine, database_url: str, tmp_path: Path
) -> None:
    good = json.dumps({"headline": "Fine", "body": "A body."})
    path = tmp_path / "items.ndjson"
    path.write_text(f"{good}\n\n{{oops\n" + json.dumps({"headline": "No body"}) + "\n")
    result = run_cli(database_url, "import", "--no-progress", str(path))
    assert result.returncode == 1
    assert f"{path}:3: body is not valid JSON" in result.stderr
    assert f"{path}:4: headline and body go together" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "created": 1,
        "duplicate": 0,
        "updated": 0,
        "unchanged": 0,
        "deleted": 0,
        "error": 2,
    }
    assert stored(db) == 1


def test_cli_dash_is_stdin_for_import_and_stdout_for_export(
    db: Engine, database_url: str, tmp_path: Path
) -> None:
    items = ({"headline": f"H{i}", "body": f"Body {i}."} for i in range(3))
    lines = "".join(json.dumps(item) + "\n" for item in items)
    imported = run_cli(database_url, "import", "--no-progress", "-", stdin=lines, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["created"] == 3
    seed = run_cli(database_url, "import", "--no-progress", "-", stdin=seed_text(), cwd=tmp_path)
    assert json.loads(seed.stdout)["created"] == 1

    exported = run_cli(database_url, "export", "--no-progress", "-", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    articles = [json.loads(line) for line in exported.stdout.splitlines()]
    assert {a["headline"] for a in articles} >= {"H0", "H1", "H2"}
    assert len(articles) == 4
    assert '"exported": 4' in exported.stderr
    assert not (tmp_path / "-").exists()
