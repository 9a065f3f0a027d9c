"""Ingest orchestration: parse or fetch input, then store it deduplicated, with revisions.

    raw item ──prepare──▶ Prepared | Unchanged | AppError ──store──▶ Outcome
              (parsers, fetcher: no database writes)      (repositories; never commits)

The route or CLI that calls these owns the transaction.
"""

from app.ingest.prepare import (
    FetchContext,
    Prepared,
    Snapshot,
    Unchanged,
    make_fetch_context,
    parse_item,
    prepare,
    prepare_all,
)
from app.ingest.revise import reextract, versions
from app.ingest.store import Outcome, store

__all__ = [
    "FetchContext",
    "Outcome",
    "Prepared",
    "Snapshot",
    "Unchanged",
    "make_fetch_context",
    "parse_item",
    "prepare",
    "prepare_all",
    "reextract",
    "store",
    "versions",
]
