"""Imports run in the background: `POST /v1/imports` with `Prefer: respond-async`.

    body ──accept──▶ import_item rows (spooled as read) ──▶ job queued, one task per chunk
                                                             (deferred in that transaction)
    task ──run_chunk──▶ the batch pipeline (decode, fetch, extract, store) ──▶ results
                        written in the transaction that stores the chunk's articles

See docs/jobs.md, "Async imports".
"""

CHUNK_TASK = "imports:chunk"
CHUNK_QUEUE = "imports"
