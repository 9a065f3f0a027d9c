"""Query parameters shared by the listing, search and export routes."""

from typing import Annotated

from fastapi import Depends, Query

from app.parsing.urls import url_domain
from app.repositories import Filters
from app.schemas import UtcDatetime


def list_filters(
    source: Annotated[
        str | None, Query(max_length=300, description="Only this source (any case).")
    ] = None,
    language: Annotated[
        str | None,
        Query(max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", examples=["en"]),
    ] = None,
    domain: Annotated[
        str | None,
        Query(max_length=255, description="Host of the article URL, www. ignored."),
    ] = None,
    # UtcDatetime: an offset that pushes the time out of range in UTC is a 422, not a 500.
    published_after: Annotated[
        UtcDatetime, Query(description="Published at or after (ISO 8601).")
    ] = None,
    published_before: Annotated[
        UtcDatetime, Query(description="Published before (ISO 8601).")
    ] = None,
    collapse_duplicates: Annotated[
        bool, Query(description="One article per near-duplicate cluster (its first).")
    ] = False,
    feed_id: Annotated[
        int | None,
        Query(ge=1, le=2**31 - 1, description="Only articles fetched for this feed's entries."),
    ] = None,
) -> Filters:
    return Filters(
        source=source,
        language=language,
        # The registrable domain, as stored (www.news.bbc.co.uk -> bbc.co.uk).
        domain=(url_domain(domain) or domain.lower()) if domain else None,
        published_after=published_after,
        published_before=published_before,
        collapse_duplicates=collapse_duplicates,
        feed_id=feed_id,
    )


ListFilters = Annotated[Filters, Depends(list_filters)]
