"""Prometheus metrics, and their exposition for `GET /metrics`.

Several worker processes (`uvicorn --workers N`): set PROMETHEUS_MULTIPROC_DIR to an empty,
writable directory in the environment of the server *before* it starts (prometheus_client
reads it when first imported), and empty that directory at every start. Each worker then
writes its samples to files there and `/metrics` sums them over all workers, whichever worker
answers the scrape. Without the variable, the process's own default registry is exposed (plus
the process and GC collectors that multiprocess mode cannot offer).
"""

import logging
import os
import re
from collections import Counter as Tally
from collections.abc import Iterable
from operator import attrgetter
from typing import Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder

log = logging.getLogger(__name__)

INGEST_STATUSES = ("created", "duplicate", "updated", "unchanged", "error")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_LABEL = re.compile(r"[a-z0-9_.-]{1,40}")
# prometheus_client picks its storage from this variable when first imported; so do we.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving a request to the last byte of its response.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ARTICLES_INGESTED = Counter("articles_ingested_total", "Articles ingested, by outcome.", ["status"])
FETCH_FAILURES = Counter("fetch_failures_total", "URL fetches that failed, by reason.", ["reason"])

for _status in INGEST_STATUSES:  # present at 0 from the start, so rate() sees the first one
    ARTICLES_INGESTED.labels(status=_status)


class HasStatus(Protocol):
    @property
    def status(self) -> str: ...


def record_ingest(status: str, count: int = 1) -> None:
    """Count `count` articles ingested with this outcome; never raises."""
    try:
        if count > 0:
            label = status if status in INGEST_STATUSES else "other"
            ARTICLES_INGESTED.labels(status=label).inc(count)
    except Exception:  # a metric must never fail the ingest that it counts
        log.debug("ingest metric not recorded", exc_info=True)


def record_outcomes(outcomes: Iterable[HasStatus]) -> None:
    """Count a batch of ingest outcomes (anything with a `status`); never raises."""
    try:
        for status, count in Tally(map(attrgetter("status"), outcomes)).items():
            record_ingest(status, count)
    except Exception:
        log.debug("ingest metrics not recorded", exc_info=True)


def record_fetch_failure(reason: str) -> None:
    """Count one failed fetch; `reason` is a short label such as FetchError.reason."""
    try:
        label = reason if isinstance(reason, str) and _LABEL.fullmatch(reason) else "other"
        FETCH_FAILURES.labels(reason=label).inc()
    except Exception:
        log.debug("fetch metric not recorded", exc_info=True)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Record one answered request; `route` is a template, never a raw path."""
    method = method if method in _METHODS else "OTHER"
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_DURATION.labels(method=method, route=route).observe(seconds)


def _registry() -> CollectorRegistry:
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def exposition(accept: str) -> tuple[bytes, str]:
    """Every metric and its Content-Type: Prometheus text format 0.0.4 unless the scraper's
    Accept header asks for OpenMetrics or 1.0.0."""
    encode, content_type = choose_encoder(accept)
    return encode(_registry()), content_type
