"""Routes for feed and sitemap subscriptions: subscribe (with discovery), list, read, pause or
resume, unsubscribe, poll now, OPML import and export."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.api.deps import ReadSession, WriteSession
from app.api.errors import problem_responses
from app.api.render import json_response
from app.api.request_bodies import read_limited
from app.db import session_scope
from app.errors import AppError, Conflict, Unprocessable
from app.feed_schemas import (
    FeedCreate,
    FeedDetail,
    FeedPage,
    FeedRead,
    FeedState,
    FeedUpdate,
    OpmlImported,
    PollQueued,
    Subscribed,
)
from app.feeds.politeness import paced
from app.feeds.poll import defer_poll
from app.feeds.subscribe import checked, chosen, discover, subscribe
from app.jobs.defer import Deferrer
from app.models import utcnow
from app.pagination import decode_cursor, encode_cursor
from app.parsing.opml import Outline, parse_opml, render_opml
from app.repositories.feeds import FeedFilters, FeedRepository

router = APIRouter(prefix="/v1/feeds", tags=["feeds"])

FeedId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The feed's id.")]
RECENT_ERRORS = 10
OPML_TYPE = "text/x-opml"


def _deferrer(request: Request) -> Deferrer:
    deferrer: Deferrer = request.app.state.deferrer
    return deferrer


@router.post(
    "",
    status_code=201,
    summary="Subscribe to a feed or sitemap",
    response_model=Subscribed,
    responses={
        201: {"description": "Subscribed (`created` counts the new subscriptions)."},
        200: {"model": Subscribed, "description": "Every feed found was followed already."},
        **problem_responses(400, 403, 422, 502, 503, 504),
    },
)
def create_feed(request: Request, body: FeedCreate, session: WriteSession) -> Response:
    """Follow a feed or sitemap; given a page, follow the feeds or sitemaps found for it."""
    state = request.app.state
    with paced(state.settings, state.write_sessions):  # the host's turns, as the workers'
        found = discover(state.fetch_context.fetcher, body.url)
    followed = chosen(found, body.kind)
    if not followed:
        raise Unprocessable(
            "no feed declared on this page (<link rel=alternate>) and no sitemap in its "
            "site's robots.txt" + (f" of the kind {body.kind!r}" if body.kind else "")
        )
    urls = [(f.url, f.title) for f in followed]
    feeds = subscribe(session, _deferrer(request), urls)
    created = sum(new for _, new in feeds)
    result = {
        "feeds": [FeedRead.model_validate(feed) for feed, _ in feeds],
        "created": created,
        "found": [vars(f) for f in found],
    }
    status = 201 if created else 200
    return json_response(Subscribed, result, status, {"Location": f"/v1/feeds/{feeds[0][0].id}"})


@router.get(
    "",
    summary="List feeds",
    response_model=FeedPage,
    responses=problem_responses(400, 422),
)
def list_feeds(
    session: ReadSession,
    state: Annotated[FeedState | None, Query(description="Only active or paused feeds.")] = None,
    kind: Annotated[str | None, Query(max_length=20, description="rss, atom, sitemap, ...")] = None,
    failing: Annotated[
        bool | None, Query(description="Only feeds whose last poll failed (or succeeded).")
    ] = None,
    parent_id: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Child sitemaps of this index.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> Any:
    """Oldest subscription first; follow `next_cursor` until it is null."""
    after = decode_cursor(cursor, {"after": int})["after"] if cursor else None
    filters = FeedFilters(state=state, kind=kind, failing=failing, parent_id=parent_id)
    page = FeedRepository(session).list_page(limit=limit, after_id=after, filters=filters)
    next_cursor = encode_cursor({"after": page.items[-1].id}) if page.has_more else None
    return json_response(FeedPage, {"items": page.items, "next_cursor": next_cursor})


@router.get(
    "/opml",
    summary="Export subscriptions as OPML",
    response_class=Response,
    responses={200: {"description": "An OPML 2.0 document.", "content": {OPML_TYPE: {}}}},
)
def export_opml(session: ReadSession) -> Response:
    """Every subscription (child sitemaps of an index left out) as OPML 2.0."""
    outlines = [
        Outline(feed.url, feed.title, feed.site_url, feed.kind)
        for feed in FeedRepository(session).top_level()
    ]
    body = render_opml(outlines, "News archive subscriptions", utcnow())
    headers = {"Content-Disposition": 'attachment; filename="subscriptions.opml"'}
    return Response(body, media_type=OPML_TYPE, headers=headers)


@router.post(
    "/opml",
    summary="Import subscriptions from OPML",
    response_model=OpmlImported,
    responses=problem_responses(413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {OPML_TYPE: {"schema": {"type": "string"}}, "application/xml": {}},
        }
    },
)
async def import_opml(request: Request) -> Response:
    """Follow every feed an OPML document lists (each is polled soon; none is fetched now)."""
    data = await read_limited(request, request.app.state.settings.max_body_bytes)
    result = await run_in_threadpool(_import_opml, request, data)
    return json_response(OpmlImported, result)


def _import_opml(request: Request, data: bytes) -> Any:
    outlines = parse_opml(data)
    with session_scope(request.app.state.write_sessions) as session:
        return _import_outlines(request, session, outlines)


def _import_outlines(request: Request, session: Session, outlines: list[Outline]) -> Any:
    fetcher = request.app.state.fetch_context.fetcher
    refused: list[str] = []
    wanted: list[tuple[str, str | None]] = []
    for outline in outlines:
        url = checked(outline.url, fetcher)
        if isinstance(url, AppError):
            refused.append(f"{outline.url[:200]}: {url.detail}")
        else:
            wanted.append((url, outline.title))
    feeds = subscribe(session, _deferrer(request), wanted)
    created = sum(new for _, new in feeds)
    return {"created": created, "existing": len(feeds) - created, "refused": refused}


@router.get(
    "/{feed_id}",
    summary="Get one feed",
    response_model=FeedDetail,
    responses=problem_responses(404, 422),
)
def get_feed(feed_id: FeedId, session: ReadSession) -> Any:
    """The feed's state: schedule, last poll, validators, counters and recent errors."""
    feeds = FeedRepository(session)
    feed = feeds.require(feed_id)
    detail = FeedRead.model_validate(feed).model_dump()
    detail["recent_errors"] = feeds.recent_errors(feed_id, RECENT_ERRORS)
    return json_response(FeedDetail, detail)


@router.patch(
    "/{feed_id}",
    summary="Pause, resume or re-time a feed",
    response_model=FeedRead,
    responses=problem_responses(404, 422, 503),
)
def update_feed(feed_id: FeedId, body: FeedUpdate, session: WriteSession) -> Any:
    """`state` pauses or resumes (a resumed feed is polled soon); `interval` fixes the
    polling interval (null: adaptive again)."""
    feeds = FeedRepository(session)
    feed = feeds.current(feed_id) or feeds.require(feed_id)
    changes = body.model_dump(exclude_unset=True)
    if "interval" in changes:
        feed.fixed_interval = changes["interval"]
    if changes.get("state") == "active" and feed.state != "active":
        feed.next_poll_at = utcnow()  # the scheduler takes it at its next run
    if changes.get("state"):
        feed.state = changes["state"]
    session.flush()
    return json_response(FeedRead, feed)


@router.delete(
    "/{feed_id}",
    status_code=204,
    summary="Unsubscribe",
    responses=problem_responses(404, 422, 503),
)
def delete_feed(feed_id: FeedId, session: WriteSession) -> Response:
    """Stop following the feed (its child sitemaps too). Articles stored from it stay."""
    feeds = FeedRepository(session)
    feeds.delete(feeds.require(feed_id))
    return Response(status_code=204)


@router.post(
    "/{feed_id}/poll",
    status_code=202,
    summary="Poll a feed now",
    response_model=PollQueued,
    responses=problem_responses(404, 409, 422, 503),
)
def poll_feed_now(request: Request, feed_id: FeedId, session: WriteSession) -> Any:
    """Queue a poll of the feed at once (a conditional GET; the schedule then goes on)."""
    feed = FeedRepository(session).require(feed_id)
    if feed.state != "active":
        raise Conflict("the feed is paused: resume it first (PATCH state=active)")
    queued = defer_poll(_deferrer(request), session, feed_id) is not None
    return json_response(PollQueued, {"queued": queued}, 202)
