"""Fixtures: a migrated database (temp-file SQLite, or TEST_DATABASE_URL), emptied after each
test; an HTTP client on the ASGI app; a real uvicorn process when a test needs one."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import make_engine
from app.main import create_app
from app.models import Base
from tests.site_server import Site

ROOT = Path(__file__).resolve().parent.parent
# Servers started by tests run no background jobs unless a test asks for them (the feed
# tests do): an idle in-process worker on SQLite would still write heartbeats meanwhile.
os.environ.setdefault("WORKER_IN_SERVER", "false")
SEEDS = ROOT / "seeds"

# Hypothesis fails an example that takes over 200 ms, or data that is slow to generate: speed
# assertions that a loaded machine fails. Off for every test; the fuzz tests bound hangs.
hypothesis_settings.register_profile(
    "no-timing", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("no-timing")


def alembic_config(connection: object | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def reset_schema(engine: Engine) -> None:
    """Drop whatever an earlier run left, then build the schema with the migrations."""
    if engine.dialect.name == "postgresql":  # SQLite test databases are new files already
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A temp-file SQLite database, or a new Postgres database next to TEST_DATABASE_URL's
    (so concurrent runs on one server never share tables), dropped at the end."""
    given = os.environ.get("TEST_DATABASE_URL")
    if not given:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url = make_url(given)
    name = f"{url.database}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    reset_schema(engine)
    yield engine
    engine.dispose()


def empty_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in [*tables, "sqlite_sequence"]:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    """The migrated database, emptied when the test ends."""
    yield engine
    empty_tables(engine)


@pytest.fixture
def client(db: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def seed_text(name: str = "000_6bc365aecf700d82") -> str:
    return (SEEDS / f"{name}.txt").read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


START_TIMEOUT = 120  # seconds
# For HTTP requests to a live server: a bound on a hang, far above what any request here
# takes even on a loaded machine (httpx's default, 5 s, is not).
HTTP_TIMEOUT = 120


class LiveServer:
    """A real uvicorn process serving the app on 127.0.0.1: `python -m uvicorn app.main:app`
    (which allows several workers), or with `serve=True` the way production starts it,
    `python -m app serve` (the Docker CMD)."""

    def __init__(
        self,
        database_url: str,
        port: int | None = None,
        workers: int = 1,
        env: dict[str, str] | None = None,
        serve: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
        if serve:
            env.update(HOST="127.0.0.1", PORT=str(self.port))
            command = [sys.executable, "-m", "app", "serve"]
        else:
            args = ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
            args += ["--http", "app.api.server:ProblemHttpToolsProtocol"]  # as `serve` does
            command = [sys.executable, "-m", "uvicorn", "app.main:app", *args]
            command += ["--log-level", "warning"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)
        self._wait_ready()

    def _wait_ready(self) -> None:
        # A bound on a hang, not a speed target: start-up (imports, migrations for `serve`)
        # takes a few seconds, many more on a loaded machine.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("uvicorn exited during start-up")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop(kill=True)
        raise RuntimeError(f"uvicorn did not start in {START_TIMEOUT} s")

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
        self.process.wait(timeout=START_TIMEOUT)


@pytest.fixture
def site() -> Iterator[Site]:
    """A loopback web site for fetch tests (allow 127.0.0.1 to reach it)."""
    with Site() as running:
        yield running


@pytest.fixture
def live_server(db: Engine, database_url: str) -> Iterator[LiveServer]:
    server = LiveServer(database_url)
    yield server
    server.stop()


class KeyMaker:
    """Creates API keys in the test database (keys are enforced from the first one on)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, scope: str = "write", name: str | None = None) -> str:
        """A new key with this scope; returns the raw key."""
        from app.db import make_sessionmaker, session_scope
        from app.security.keys import issue_key

        with session_scope(make_sessionmaker(self.engine)) as session:
            _, raw = issue_key(session, name or f"{scope}-{uuid.uuid4().hex[:8]}", scope)
        return raw


@pytest.fixture
def make_key(db: Engine) -> KeyMaker:
    return KeyMaker(db)


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for an API key."""
    return {"Authorization": f"Bearer {key}"}


def ndjson_import(response: Any) -> dict[str, Any]:
    """An NDJSON import's streamed answer in the shape of the JSON one: `results`, plus
    `counts` (or `error`, when the import stopped) from its last line. Checks the format."""
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/x-ndjson"
    *results, last = (json.loads(line) for line in response.text.splitlines())
    assert [r["index"] for r in results] == list(range(len(results)))
    assert set(last) in ({"counts"}, {"error"}), last
    return {"results": results, **last}
