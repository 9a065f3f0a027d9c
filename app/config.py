"""Settings, read from the environment (and a `.env` file when present)."""

import ipaddress
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///./data/news.db"


class Settings(BaseSettings):
    """Every knob of the service; each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_SQLITE_URL,
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db.",
    )
    host: str = Field("127.0.0.1", description="Interface `make run` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `make run` listens on.")
    db_pool_size: int = Field(10, ge=1, le=200, description="Connections kept per process.")
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest request body for single-article routes."
    )
    max_import_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest JSON body for POST /v1/imports."
    )
    max_ndjson_bytes: int = Field(
        2 * 1024**3, ge=1024, description="Largest streamed NDJSON body for POST /v1/imports."
    )
    max_import_items: int = Field(1000, ge=1, description="Most items in one JSON import.")
    import_chunk_size: int = Field(
        500, ge=1, le=5000, description="Items stored per transaction during an NDJSON import."
    )
    import_processes: int = Field(
        0,
        ge=0,
        le=16,
        description="Worker processes (per server process) that parse NDJSON import chunks "
        "while the server writes the previous one; started at an import's second chunk. "
        "0 (the default): parse in the server process.",
    )
    fetch_allowed_networks: str = Field(
        "",
        description="Comma-separated CIDRs the fetcher may reach although they are private, "
        "loopback or otherwise forbidden (e.g. 10.1.2.0/24). Empty: public addresses only.",
    )
    fetch_connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect upstream.")
    fetch_read_timeout: float = Field(10.0, gt=0, description="Seconds between upstream bytes.")
    fetch_total_timeout: float = Field(30.0, gt=0, description="Seconds for a whole fetch.")
    fetch_max_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Largest page, counted after decompression."
    )
    fetch_max_redirects: int = Field(5, ge=0, le=20, description="Redirects followed at most.")
    fetch_respect_robots: bool = Field(True, description="Obey robots.txt of fetched sites.")
    fetch_user_agent: str = Field(
        "news-archive/0.1 (+https://github.com/news-archive)", description="User-Agent sent."
    )
    fetch_concurrency: int = Field(8, ge=1, le=64, description="URL fetches at once, in all.")
    fetch_per_host: int = Field(2, ge=1, le=16, description="URL fetches at once per host.")
    log_level: str = Field(
        "INFO",
        pattern=r"(?i)^(debug|info|warning|error|critical)$",
        description="Least severe log level written (any case).",
    )
    log_format: str = Field(
        "json", pattern="^(json|text)$", description="Log lines as JSON objects, or plain text."
    )
    metrics_enabled: bool = Field(
        True, description="Serve Prometheus metrics at GET /metrics and count HTTP requests."
    )
    public_reads: bool = Field(
        False, description="GET and HEAD need no API key (writes and deletes still do)."
    )
    rate_limit_per_minute: int = Field(
        600,
        ge=0,
        description="Requests a minute per API key (per client address without a key), with "
        "bursts up to the same number; 0 turns rate limiting off. Counted per process.",
    )
    idempotency_ttl_hours: int = Field(
        24, ge=1, le=24 * 30, description="Hours an Idempotency-Key and its response are kept."
    )
    idempotency_max_response_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest response kept for an Idempotency-Key; a larger one is not kept.",
    )

    # -- background jobs (procrastinate) and feeds: docs/jobs.md, docs/feeds.md ----------
    worker_in_server: bool | None = Field(
        None,
        description="Run background jobs inside the API server process. Unset: yes on "
        "SQLite (one machine, no other process needed), no on Postgres (run "
        "`python -m app worker` processes instead).",
    )
    worker_concurrency: int = Field(
        4, ge=1, le=64, description="Jobs one worker runs at once (threads for fetching)."
    )
    job_heartbeat_seconds: float = Field(
        10.0, gt=0, le=600, description="Seconds between a worker's heartbeats."
    )
    job_stalled_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A worker silent this long is taken for dead: its running jobs are retried.",
    )
    job_tick_seconds: int = Field(
        10,
        ge=1,
        le=60,
        description="Seconds between runs of the scheduler (due feed polls, stalled-job recovery).",
    )
    job_fetch_interval: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Seconds a worker waits for a job before looking again "
        "(Postgres also wakes it through LISTEN/NOTIFY).",
    )
    job_retry_attempts: int = Field(
        5, ge=0, le=50, description="Retries of a failed job (exponential backoff)."
    )
    job_retry_seconds: float = Field(
        2.0, gt=0, le=3600, description="First retry delay; doubled for every further retry."
    )
    job_keep_hours: int = Field(
        72, ge=1, description="Hours finished jobs stay in the queue table before pruning."
    )
    job_shutdown_seconds: float = Field(
        30.0, ge=0, description="On SIGTERM, seconds a worker lets running jobs finish."
    )
    feed_min_interval: float = Field(
        300.0, gt=0, description="Shortest interval between two polls of a feed, seconds."
    )
    feed_max_interval: float = Field(
        86400.0, gt=0, description="Longest interval between two polls (and longest backoff)."
    )
    feed_host_concurrency: int = Field(
        2, ge=1, le=64, description="Requests at once to one host, across all workers."
    )
    feed_host_delay: float = Field(
        1.0, ge=0, le=3600, description="Seconds between two requests to one host (all workers)."
    )
    feed_host_overrides: str = Field(
        "",
        description="Per-host politeness: `host=concurrency/delay` pairs, comma-separated "
        "(e.g. `example.com=4/0.5,slow.example=1/10`).",
    )
    feed_max_child_sitemaps: int = Field(
        100, ge=1, le=50_000, description="Child sitemaps followed per sitemap index."
    )

    @field_validator("feed_host_overrides")
    @classmethod
    def _overrides(cls, value: str) -> str:
        parse_host_overrides(value)  # ValueError names the bad pair
        return value

    @field_validator("fetch_allowed_networks")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip())  # ValueError names the bad network
        return value


def parse_host_overrides(value: str) -> dict[str, tuple[int, float]]:
    """`host=concurrency/delay,...` as {host: (concurrency, delay seconds)}."""
    found: dict[str, tuple[int, float]] = {}
    for pair in value.split(","):
        if not pair.strip():
            continue
        host, _, rule = pair.partition("=")
        concurrency, _, delay = rule.partition("/")
        try:
            limits = (int(concurrency), float(delay or 0))
        except ValueError:
            raise ValueError(f"not host=concurrency/delay: {pair.strip()!r}") from None
        if not host.strip() or limits[0] < 1 or limits[1] < 0:
            raise ValueError(f"not host=concurrency/delay: {pair.strip()!r}")
        found[host.strip().lower()] = limits
    return found


@lru_cache
def get_settings() -> Settings:
    return Settings()
