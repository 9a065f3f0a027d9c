"""SQLite's write-ahead log is restarted after large writes without failing the writer."""

import threading
from pathlib import Path

from sqlalchemy import text

from app.config import Settings
from app.db import checkpoint_if_large, make_engine, writer


def _engine(tmp_path: Path):  # a file of its own: these tests need SQLite whatever the suite runs
    return make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'wal.db'}"))


def _fill(engine, rows: int = 2000) -> None:
    with writer(engine).begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "y" * 500}] * rows)


def test_a_large_wal_is_truncated(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _fill(engine)
    wal = tmp_path / "wal.db-wal"
    assert wal.stat().st_size > 100_000
    checkpoint_if_large(engine, limit=1)
    assert wal.stat().st_size == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2000
    engine.dispose()


def test_a_reader_holding_the_wal_does_not_fail_the_checkpoint(tmp_path: Path) -> None:
    """The write has committed: a checkpoint that cannot restart the log must not raise."""
    engine = _engine(tmp_path)
    _fill(engine)
    reading, done = threading.Event(), threading.Event()

    def reader() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM t")).scalar()  # opens a read transaction
            reading.set()
            done.wait(10)

    thread = threading.Thread(target=reader)
    thread.start()
    reading.wait(10)
    _fill(engine, 100)
    try:
        checkpoint_if_large(engine, limit=1, wait=0.2)  # returns, log not restarted yet
    finally:
        done.set()
        thread.join()
    checkpoint_if_large(engine, limit=1)
    assert (tmp_path / "wal.db-wal").stat().st_size == 0
    engine.dispose()
