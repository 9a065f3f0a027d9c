"""Engine and session factories; commit happens at the request or command boundary only."""

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings

_log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
SQLITE_WRITE_WAIT = 60.0  # seconds a writer queues before the request is a 503


def make_engine(settings: Settings) -> Engine:
    """An engine for the configured URL; SQLite gets WAL, foreign keys and explicit BEGIN."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url.render_as_string(hide_password=False), url.database)
    return create_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
        # A database that accepts connections but does not answer fails them in 5 s (a 503)
        # instead of holding a worker thread forever.
        # JIT compiles short OLTP queries for longer than they run (seen at 20k articles).
        # random_page_cost for SSD-era storage: with the default 4 the planner prefers a
        # sequential scan over the full-text GIN index once statistics exist.
        connect_args={
            "connect_timeout": 5,
            "options": "-c jit=off -c random_page_cost=1.1",
        },
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA cache_size=-65536")
        # Checkpoint (the only fsync under synchronous=NORMAL) every ~40 MB of WAL, not 4 MB.
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.close()

    # One writer at a time per process: SQLite's busy handler polls rather than queues, so
    # with many waiting writers an unlucky one can time out; a Python lock queues them
    # fairly and leaves SQLite at most one waiter per process.
    write_lock = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: a deferred transaction that later needs to write
        # can fail with "database is locked" instead of waiting for the other writer.
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        if immediate:
            if not write_lock.acquire(timeout=SQLITE_WRITE_WAIT):
                raise OperationalError("BEGIN IMMEDIATE", None, TimeoutError("writers queue"))
            conn.info["holds_write_lock"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except BaseException:
            _release(conn)
            raise

    def _release(conn: Any) -> None:
        if conn.info.pop("holds_write_lock", False):
            write_lock.release()

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)
    return engine


def checkpoint_if_large(engine: Engine, limit: int = 64 * 1024 * 1024, wait: float = 2.0) -> None:
    """Restart a SQLite WAL that has grown past `limit` bytes. Continuous readers keep an
    automatic checkpoint from ever restarting the log, so it grows without bound.

    Best effort: the caller's transaction has committed, so a checkpoint that cannot run
    now (readers on an old snapshot, another writer) is left to the next large write; it
    waits at most `wait` seconds and never raises for that.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return
    wal = Path(f"{database}-wal")
    if not wal.exists() or wal.stat().st_size < limit:
        return
    with engine.connect() as conn:
        # On the driver connection, outside any transaction: inside one SQLite refuses a
        # checkpoint ("database table is locked").
        raw = conn.connection.dbapi_connection
        assert raw is not None
        try:
            raw.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.OperationalError as exc:
            _log.info("WAL checkpoint postponed: %s", exc)
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def writer(engine: Engine) -> Engine:
    """The same engine, with transactions that take SQLite's write lock when they begin."""
    return engine.execution_options(sqlite_immediate=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction for a command: commit on success, roll back on error."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class RetryTransaction(Exception):
    """Raised by work that finds the database changed under it (an article it was about to
    update deleted meanwhile): `retried` runs the work again in a new transaction."""


# Postgres errors that a new attempt of the same transaction resolves: it aborted in a
# deadlock or a serialization failure, or it met a change committed since its lookups: a
# row with the same unique key (the new attempt finds it and treats it as known), or the
# deletion of the article it was adding to (the new attempt finds the tombstones).
_TRANSIENT = {"40P01", "40001", "23505", "23503"}
ATTEMPTS = 5


def transient(exc: BaseException) -> bool:
    if isinstance(exc, RetryTransaction):
        return True
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _TRANSIENT


def retried(session: Session, work: Callable[[], T], attempts: int = ATTEMPTS) -> T:
    """`work()`, which must be all that `session`'s transaction has done; when the transaction
    fails in a way a new attempt resolves, roll it back and run `work` again (up to
    `attempts` times), so concurrency never costs the caller an error."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if attempt == attempts or not transient(exc):
                raise
            session.rollback()
            _log.info("transaction retried (attempt %d): %s", attempt + 1, _reason(exc))
    raise AssertionError("unreachable")


def _reason(exc: Exception) -> str:
    if isinstance(exc, DBAPIError):
        return f"{type(exc.orig).__name__} ({getattr(exc.orig, 'sqlstate', None)})"
    return str(exc)
