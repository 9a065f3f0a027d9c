"""Ingest orchestration: parse or fetch input, then store it deduplicated, with revisions.

    raw item ──prepare──▶ Prepared | Unchanged | AppError ──store──▶ Outcome
              (parsers, fetcher: no database writes)      (look up, plan, apply;
                                                           repositories; never commits)

The route or CLI that calls these owns the transaction. Batches (chunks, a transaction per
chunk, preparing the next chunk while one is written) go through `app.ingest.batch`.
"""

from app.ingest.plan import STATUSES, Outcome
from app.ingest.prepare import (
    FetchContext,
    Item,
    Prepared,
    Snapshot,
    Unchanged,
    make_fetch_context,
    parse_item,
    prepare,
    prepare_all,
    prepare_one,
)
from app.ingest.revise import reextract, versions
from app.ingest.store import store, store_one
from app.ingest.takedown import delete_article

__all__ = [
    "STATUSES",
    "FetchContext",
    "Item",
    "Outcome",
    "Prepared",
    "Snapshot",
    "Unchanged",
    "delete_article",
    "make_fetch_context",
    "parse_item",
    "prepare",
    "prepare_all",
    "prepare_one",
    "reextract",
    "store",
    "store_one",
    "versions",
]
