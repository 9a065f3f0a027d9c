"""Logs and metrics, free of any web framework (so the CLI and ingest may use them): JSON or
text log lines stamped with the request id (`app.observability.logs`) and the Prometheus
counters (`app.observability.metrics`). The HTTP side (the request middleware that sets the
id and writes the access log, `GET /metrics`) is in `app.api.middleware`.
"""

from app.observability.logs import JsonFormatter, configure_logging, current_request_id
from app.observability.metrics import record_fetch_failure, record_ingest, record_outcomes

__all__ = [
    "JsonFormatter",
    "configure_logging",
    "current_request_id",
    "record_fetch_failure",
    "record_ingest",
    "record_outcomes",
]
