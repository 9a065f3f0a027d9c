"""`python -m app feeds`: list, add and poll subscriptions; per-host politeness limits.

Each command opens its own transaction; polls are queued for the workers (or for the
server's in-process worker on SQLite), never run here.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import click
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker, session_scope, writer
from app.errors import AppError
from app.feed_schemas import FeedRead
from app.feeds.politeness import host_key, paced
from app.feeds.poll import defer_poll
from app.feeds.subscribe import chosen, discover, subscribe
from app.ingest.resources import open_fetch_context
from app.jobs.defer import Deferrer
from app.jobs.engine import make_connector, make_deferrer
from app.repositories.feeds import FeedFilters, FeedRepository
from app.repositories.hosts import HostRepository


@contextmanager
def _database(settings: Settings) -> Iterator[tuple[sessionmaker[Session], Deferrer]]:
    engine = make_engine(settings)
    try:
        yield (
            make_sessionmaker(writer(engine)),
            make_deferrer(settings, make_connector(settings, engine)),
        )
    finally:
        engine.dispose()


@click.group("feeds")
def feeds_command() -> None:
    """Feed and sitemap subscriptions."""


@feeds_command.command("list")
@click.option(
    "--state",
    type=click.Choice(["active", "paused"]),
    default=None,
    help="Only feeds in this state.",
)
@click.option("--failing", is_flag=True, help="Only feeds whose last poll failed.")
def list_feeds(state: str | None, failing: bool) -> None:
    """One JSON object per feed (its state, schedule and counters)."""
    with _database(get_settings()) as (sessions, _), sessions() as session:
        filters = FeedFilters(state=state, failing=True if failing else None)
        after: int | None = None
        while True:
            page = FeedRepository(session).list_page(limit=500, after_id=after, filters=filters)
            for feed in page.items:
                click.echo(FeedRead.model_validate(feed).model_dump_json())
            if not page.has_more:
                return
            after = page.items[-1].id


@feeds_command.command("add")
@click.argument("url")
@click.option(
    "--kind",
    type=click.Choice(["feed", "sitemap"]),
    default=None,
    help="Follow only this kind of what the page declares (default: feeds, else sitemaps).",
)
def add_feed(url: str, kind: Literal["feed", "sitemap"] | None) -> None:
    """Subscribe to URL (a feed, a sitemap, or a page to find them on)."""
    settings = get_settings()
    with _database(settings) as (sessions, deferrer):
        with open_fetch_context(settings, sessions) as context:
            try:
                with paced(settings, sessions):
                    found = discover(context.fetcher, url)
            except AppError as error:
                raise click.ClickException(error.detail) from None
        followed = chosen(found, kind)
        if not followed:
            raise click.ClickException("no feed or sitemap found for this URL")
        with session_scope(sessions) as session:
            feeds = subscribe(session, deferrer, [(f.url, f.title) for f in followed])
            for feed, created in feeds:
                click.echo(json.dumps({"id": feed.id, "url": feed.url, "created": created}))


@feeds_command.command("poll")
@click.argument("feed_id", type=int)
def poll_feed(feed_id: int) -> None:
    """Queue a poll of FEED_ID now."""
    with _database(get_settings()) as (sessions, deferrer), session_scope(sessions) as session:
        if FeedRepository(session).get(feed_id) is None:
            raise click.ClickException(f"no feed with id {feed_id}")
        queued = defer_poll(deferrer, session, feed_id) is not None
    click.echo(json.dumps({"id": feed_id, "queued": queued}))


@feeds_command.command("host")
@click.argument("host")
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=None, help="Requests at once to HOST."
)
@click.option("--delay", type=click.FloatRange(0, 3600), default=None, help="Seconds.")
def host_limits(host: str, concurrency: int | None, delay: float | None) -> None:
    """Politeness for HOST across all workers (no option: back to the defaults)."""
    with _database(get_settings()) as (sessions, _), session_scope(sessions) as session:
        HostRepository(session).set_limits(host_key(host), concurrency, delay)
    click.echo(json.dumps({"host": host_key(host), "concurrency": concurrency, "delay": delay}))
