"""Background jobs for callers: imports sent with `Prefer: respond-async` (accepted by
`start_import_job`), then `/v1/jobs` to follow, page through the results of, list and
cancel them.

Who sees what: a key sees the jobs it created; a key with the `admin` scope sees every job.
Callers without a key (open mode, or public reads) see the jobs created without a key.
Creating and cancelling need `write`, reading `read`.
"""

import json
from collections.abc import AsyncIterable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.api.deps import ReadSession, WriteSession
from app.api.errors import problem_responses
from app.api.middleware.auth import ANONYMOUS, Principal, authenticate_again
from app.api.render import json_response
from app.errors import NotFound
from app.import_jobs.accept import accept_import
from app.import_jobs.control import cancel_import, describe_jobs
from app.job_schemas import JobPage, JobRead, JobResultPage, JobStatus
from app.models import ImportJob
from app.pagination import decode_cursor, encode_cursor
from app.repositories.import_jobs import FINISHED, ImportJobRepository
from app.security.keys import grants

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The job's id.")]
ASYNC = "respond-async"


def _errors(*codes: int, missing: bool = True) -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(*codes)
    if missing and 404 in responses:
        responses[404] = {**responses[404], "description": "No such job (or not yours)."}
    return responses


def prefers_async(request: Request) -> bool:
    """Whether the request's `Prefer` header (RFC 7240) asks for `respond-async`."""
    for header in request.headers.getlist("prefer"):
        for preference in header.split(","):
            if preference.split(";")[0].split("=")[0].strip().lower() == ASYNC:
                return True
    return False


def _principal(request: Request) -> Principal:
    principal: Principal = getattr(request.state, "principal", ANONYMOUS)
    return principal


def _owner_filter(request: Request) -> str | None:
    """The owner whose jobs the caller may see; None (all) for admin keys."""
    principal = _principal(request)
    if principal.key_id is not None and grants(principal.scope or "", "admin"):
        return None
    return principal.owner


def _require(session: Session, request: Request, job_id: int) -> ImportJob:
    job = ImportJobRepository(session).get(job_id, _owner_filter(request))
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


async def start_import_job(
    request: Request, items: AsyncIterable[bytes], restore: bool
) -> Response:
    """Spool the body's items into a new job and answer 202 with where to follow it."""
    state = request.app.state
    job_id = await accept_import(
        state.write_sessions,
        state.deferrer,
        items,
        owner=_principal(request).owner,
        restore=restore,
        chunk_size=state.settings.import_chunk_size,
        check=lambda: authenticate_again(request.scope),
    )
    body = await run_in_threadpool(_describe_new, state.sessions, job_id)
    headers = {"Location": f"/v1/jobs/{job_id}", "Preference-Applied": ASYNC}
    return json_response(JobRead, body, 202, headers)


def _describe_new(sessions: sessionmaker[Session], job_id: int) -> dict[str, Any]:
    with sessions() as session:
        job = ImportJobRepository(session).get(job_id, None)
        assert job is not None
        return describe_jobs(session, [job])[0]


@router.get(
    "",
    summary="List jobs",
    response_model=JobPage,
    responses=_errors(400, 422, missing=False),
)
def list_jobs(
    request: Request,
    session: ReadSession,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> Any:
    """Newest first; follow `next_cursor` until it is null."""
    before = decode_cursor(cursor, {"before": int})["before"] if cursor else None
    page = ImportJobRepository(session).list_page(
        owner=_owner_filter(request), status=status, before_id=before, limit=limit
    )
    next_cursor = encode_cursor({"before": page.items[-1].id}) if page.has_more else None
    items = describe_jobs(session, list(page.items))
    return json_response(JobPage, {"items": items, "next_cursor": next_cursor})


@router.get(
    "/{job_id}",
    summary="Get one job",
    response_model=JobRead,
    responses=_errors(404, 422),
)
def get_job(request: Request, job_id: JobId, session: ReadSession) -> Any:
    """The job's status, its counts so far and its timestamps."""
    job = _require(session, request, job_id)
    return json_response(JobRead, describe_jobs(session, [job])[0])


@router.get(
    "/{job_id}/results",
    summary="Page through a job's per-item results",
    response_model=JobResultPage,
    responses=_errors(400, 404, 422),
)
def get_job_results(
    request: Request,
    job_id: JobId,
    session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
) -> Any:
    """Results in item order, as a synchronous import reports them. While the job runs, a
    page ends where results are still missing and `next_cursor` stays set: page again
    later from it. Once the job has finished, the last page has `next_cursor` null."""
    job = _require(session, request, job_id)
    start = decode_cursor(cursor, {"next": int})["next"] if cursor else 0
    repo = ImportJobRepository(session)
    finished = job.status in FINISHED
    rows = repo.results(job_id, start, limit + 1, before=None if finished else repo.horizon(job_id))
    more, rows = len(rows) > limit or not finished, rows[:limit]
    position = rows[-1].position + 1 if rows else start
    next_cursor = encode_cursor({"next": position}) if more else None
    # Shaped as a synchronous import's results: `id` and `error` only when set.
    items = [
        {"index": r.position, "status": r.status}
        | ({"id": r.article_id} if r.article_id is not None else {})
        | ({"error": r.error} if r.error is not None else {})
        for r in rows
    ]
    body = json.dumps({"items": items, "next_cursor": next_cursor})
    return Response(body, media_type="application/json")


@router.delete(
    "/{job_id}",
    summary="Cancel a job",
    response_model=JobRead,
    responses={
        200: {"description": "Cancelled: nothing of it runs any more."},
        202: {"model": JobRead, "description": "Cancelling: chunks already running finish."},
        **_errors(404, 409, 422, 503),
    },
)
def cancel_job(request: Request, job_id: JobId, session: WriteSession) -> Response:
    """Cancel the items that have not started; 409 once the job has finished."""
    job = cancel_import(session, request.app.state.deferrer, job_id, _owner_filter(request))
    status = 200 if job.status == "cancelled" else 202
    return json_response(JobRead, describe_jobs(session, [job])[0], status)
