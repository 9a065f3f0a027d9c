"""What task functions work with, built once per worker (or once per server process)."""

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.ingest.prepare import FetchContext
from app.jobs.defer import Deferrer


@dataclass(frozen=True)
class JobRuntime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]  # reads
    write_sessions: sessionmaker[Session]  # writes (take SQLite's write lock up front)
    fetch: FetchContext
    deferrer: Deferrer
