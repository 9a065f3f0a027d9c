"""The job API's response models (the ORM rows are app.models.ImportJob, ...)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.schemas import ImportCounts, ImportResult

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class JobRead(BaseModel):
    """A background import and its progress."""

    id: int
    kind: Literal["import"] = Field("import", description="What the job does.")
    status: JobStatus = Field(
        description="queued (no chunk started yet), running, done, failed (some items could "
        "not be imported after every retry: their results say so), cancelled (DELETE; "
        "chunks that had started were finished)."
    )
    items: int = Field(description="Items in the import.")
    processed: int = Field(description="Items with a result so far.")
    counts: ImportCounts = Field(
        description="Results so far, named as a synchronous import's final counts."
    )
    cancel_requested: bool = Field(
        description="A cancel was asked for; the job is cancelled once no chunk runs."
    )
    created_at: datetime
    started_at: datetime | None = Field(None, description="When its first chunk started.")
    finished_at: datetime | None = None
    results: str = Field(description="Where its per-item results are: GET this URL.")


class JobPage(BaseModel):
    items: list[JobRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class JobResultPage(BaseModel):
    """Per-item results in position order, each as in a synchronous import's `results`."""

    items: list[ImportResult]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null once every result written so "
        "far was listed (a running job adds more: page again from the last cursor)."
    )
