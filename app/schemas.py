"""The normalized article (parser output) and the API's request and response models."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.extractors import HTML_EXTRACTOR
from app.text.normalize import clean_line, content_hash

MAX_URL = 2048
MAX_HEADLINE = 1000
MAX_SOURCE = 300
MAX_BODY = 1_000_000


def none_if_blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = clean_line(value)
    return value or None


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ValueError("date is out of range once converted to UTC") from None


OptionalLine = Annotated[str | None, AfterValidator(none_if_blank)]
Url = Annotated[str, StringConstraints(max_length=MAX_URL)]
UtcDatetime = Annotated[datetime | None, AfterValidator(_aware_utc)]
Language = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", max_length=35)
]


class RelatedLink(BaseModel):
    """A link to another article: its title, its URL, or both."""

    model_config = ConfigDict(extra="forbid")

    title: OptionalLine = Field(
        None, max_length=MAX_HEADLINE, examples=["Iran cozies up with Taliban"]
    )
    url: Annotated[str | None, AfterValidator(none_if_blank)] = Field(
        None, max_length=MAX_URL, examples=["https://example.com/news/iran-taliban"]
    )

    @model_validator(mode="after")
    def _title_or_url(self) -> "RelatedLink":
        if self.title is None and self.url is None:
            raise ValueError("a related link needs a title or a url")
        return self


class Extraction(BaseModel):
    """Provenance: which rule produced each field, and which extractor ran."""

    extractor: str = Field(examples=[HTML_EXTRACTOR])
    fields: dict[str, str] = Field(
        {},
        description="Field name to the rule that produced it: json-ld, meta, microdata, html, "
        "byline, url-pattern, trafilatura, body-text, seed-line, caller, domain, ...",
        examples=[
            {
                "headline": "html",
                "body": "trafilatura",
                "authors": "byline",
                "published_at": "meta",
                "url": "caller",
            }
        ],
    )


class NormalizedArticle(BaseModel):
    """One article as every parser produces it: clean text, no storage fields."""

    headline: str
    body: str
    source: str | None = None
    related_links: list[RelatedLink] = []
    url: str | None = None
    canonical_url: str | None = None
    authors: list[str] = []
    published_at: datetime | None = None
    modified_at: datetime | None = None
    language: str | None = None
    description: str | None = None
    top_image: str | None = None
    tags: list[str] = []
    extraction: Extraction | None = None

    @property
    def content_hash(self) -> str:
        return content_hash(self.headline, self.body)


SEED_EXAMPLE = (
    "Iranian head of Intelligence orders Iraqi militias to attack U.S. forces\n\n"
    "Reuters quoted two well-informed Iraqi sources ...\n\n"
    "Source: Reuters\nAlso read: Iran cozies up with Taliban in Afghanistan\n"
)


class ArticleIn(BaseModel):
    """An article to ingest: seed-format `text`, raw `html`, a `url` to fetch, or
    already-normalized fields (`headline` and `body`, plus any of the others)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": SEED_EXAMPLE},
                {"url": "https://example.com/news/2026/11/storm-closes-ports"},
                {
                    "html": "<html><head><title>Storm closes ports</title></head><body>"
                    "<article><h1>Storm closes ports</h1><p>The storm closed every port."
                    "</p></article></body></html>",
                    "url": "https://example.com/news/storm",
                },
                {
                    "headline": "Storm closes ports along the coast",
                    "body": "First paragraph.\n\nSecond paragraph.",
                    "source": "Reuters",
                    "related_links": [{"title": "Earlier storm", "url": "https://example.com/a"}],
                    "authors": ["Jane Doe"],
                    "published_at": "2026-11-20T08:30:00Z",
                    "language": "en",
                },
            ]
        },
    )

    text: str | None = Field(
        None, max_length=MAX_BODY, description="The article in the plain seed-text format."
    )
    html: str | None = Field(
        None, max_length=5 * MAX_BODY, description="A whole HTML page; `url` resolves its links."
    )
    headline: str | None = Field(None, max_length=MAX_HEADLINE)
    body: str | None = Field(
        None, max_length=MAX_BODY, description="Paragraphs separated by blank lines."
    )
    source: str | None = Field(
        None, max_length=MAX_SOURCE, description="Credited news organisation."
    )
    related_links: list[RelatedLink] = Field([], max_length=500)
    url: Url | None = Field(
        None, description="Alone: the page to fetch. Otherwise where the article came from."
    )
    canonical_url: Url | None = None
    authors: list[Annotated[str, StringConstraints(max_length=300)]] = Field([], max_length=100)
    published_at: UtcDatetime = None
    modified_at: UtcDatetime = None
    language: Language | None = None
    description: str | None = Field(None, max_length=10_000)
    top_image: Url | None = None
    tags: list[Annotated[str, StringConstraints(max_length=200)]] = Field([], max_length=100)
    extraction: Extraction | None = Field(
        None, description="Provenance to keep (exports carry it); default: caller-supplied."
    )
    id: int | None = Field(
        None, description="Ignored: present in exports; the archive assigns its own ids."
    )
    content_hash: str | None = Field(
        None,
        pattern="^[0-9a-f]{64}$",
        description="If given (exports carry it), must match the normalized headline and body.",
    )

    @model_validator(mode="after")
    def _one_kind_of_input(self) -> "ArticleIn":
        given = [k for k in ("text", "html") if getattr(self, k) is not None]
        if self.headline is not None or self.body is not None:
            given.append("headline/body")
            if self.headline is None or self.body is None:
                raise ValueError("headline and body go together: give both")
        if len(given) > 1:
            raise ValueError(f"give only one of text, html or headline/body (got {given})")
        if not given and self.url is None:
            raise ValueError(
                "an article needs text, html, both headline and body, or a url to fetch"
            )
        return self

    @property
    def kind(self) -> Literal["text", "html", "fields", "fetch"]:
        if self.text is not None:
            return "text"
        if self.html is not None:
            return "html"
        return "fields" if self.headline is not None else "fetch"

    @field_validator("language")
    @classmethod
    def _lower_language(cls, value: str | None) -> str | None:
        return value.lower() if value else value


class RelatedLinkRead(BaseModel):
    """A related link as stored (normalized on the way in, so not again on the way out)."""

    title: str | None = Field(examples=["Iran cozies up with Taliban"])
    url: str | None = Field(examples=["https://example.com/news/iran-taliban"])


class ArticleRead(BaseModel):
    """A stored article."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(examples=[1])
    headline: str = Field(examples=["Iranian head of Intelligence orders Iraqi militias"])
    body: str = Field(examples=["First paragraph.\n\nSecond paragraph."])
    source: str | None = Field(examples=["Reuters"])
    related_links: list[RelatedLinkRead]
    url: str | None = Field(examples=[None])
    canonical_url: str | None = Field(examples=[None])
    authors: list[str] = Field(examples=[["Jane Doe"]])
    published_at: datetime | None
    modified_at: datetime | None
    language: str | None = Field(examples=["en"])
    description: str | None
    top_image: str | None
    tags: list[str]
    extraction: Extraction | None = Field(
        description="Which rule produced each field, and the extractor that ran."
    )
    content_hash: str = Field(description="sha256 of the normalized headline and body.")
    revision: int = Field(description="Number of the current version (1 until it changes).")
    created_at: datetime
    updated_at: datetime


class RevisionSummary(BaseModel):
    """One version of an article, and how it differs from the version before."""

    model_config = ConfigDict(from_attributes=True)

    number: int = Field(examples=[2])
    recorded_at: datetime = Field(description="When this version was fetched or received.")
    content_hash: str
    headline_changed: bool
    paragraphs_added: int
    paragraphs_removed: int
    paragraphs_changed: int


class RevisionRead(RevisionSummary):
    headline: str
    body: str
    extraction: Extraction | None


class RevisionList(BaseModel):
    items: list[RevisionSummary]


class DiffChunk(BaseModel):
    """Paragraphs that stayed, were added, removed, or changed (old and new given)."""

    op: Literal["equal", "added", "removed", "changed"]
    old: list[str] = Field(description="Paragraphs of the previous version.")
    new: list[str] = Field(description="Paragraphs of this version.")


class RevisionDiff(BaseModel):
    number: int
    previous: int | None = Field(description="The version compared against; null for the first.")
    headline: DiffChunk
    paragraphs: list[DiffChunk]


class ReextractResult(BaseModel):
    changed: bool = Field(description="True when the current extractor produced new content.")
    article: ArticleRead


class ArticleHit(ArticleRead):
    """A listed article; for a search, with its highlighted snippet and relevance score."""

    snippet: str | None = Field(
        None, description="Search only: the best passage, matches in <mark></mark>."
    )
    score: float | None = Field(None, description="Search only: relevance, higher is better.")


class ArticlePage(BaseModel):
    """One page of a listing; pass `next_cursor` back as `cursor` for the next page."""

    items: list[ArticleHit]
    next_cursor: str | None = Field(description="Null on the last page.")


class ImportResult(BaseModel):
    """What happened to one item of a batch import."""

    index: int = Field(description="Position of the item in the request, from 0.")
    status: Literal["created", "duplicate", "updated", "unchanged", "deleted", "error"] = Field(
        description="updated: a known URL with new content (a new revision); unchanged: the "
        "page was not modified since the last fetch (HTTP 304); deleted: the article was "
        "deleted before and is not stored again (import with ?restore=true to override)."
    )
    id: int | None = Field(None, description="The stored article (new, or already present).")
    error: str | None = Field(None, description="Why the item was not stored.")


class ImportCounts(BaseModel):
    created: int = 0
    duplicate: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    error: int = 0


class ImportRequest(BaseModel):
    """A batch of up to 1,000 articles, each in any shape POST /v1/articles accepts as JSON."""

    model_config = ConfigDict(extra="forbid")

    items: list[ArticleIn] = Field(max_length=1000)


class ImportResponse(BaseModel):
    results: list[ImportResult]
    counts: ImportCounts


class Problem(BaseModel):
    """An RFC 9457 problem document. Each error response of each operation has its own
    examples (/openapi.json); none here, or every status would show the same one."""

    type: str = Field(description="`/problems/<kind>`: stable, for programs to test.")
    title: str = Field(description="The kind of problem, for people.")
    status: int = Field(description="The HTTP status, repeated.")
    detail: str = Field(description="What was wrong with this request, and what to do.")
    errors: list[dict[str, object]] | None = Field(
        None, description="Field-level validation errors, when there are any."
    )


class LatestArticle(BaseModel):
    """The source's newest article: the first one `GET /v1/articles?source=` lists."""

    id: int = Field(examples=[1])
    headline: str = Field(examples=["Iranian head of Intelligence orders Iraqi militias"])


class SourceRead(BaseModel):
    name: str = Field(examples=["Reuters"])
    article_count: int
    latest_article: LatestArticle | None = Field(
        description="Its newest article; null when it has none left (all deleted)."
    )
    latest_published_at: datetime | None = Field(description="Newest publication date.")
    latest_ingested_at: datetime | None = Field(description="When its newest article arrived.")


class SourceList(BaseModel):
    items: list[SourceRead]


class DuplicateList(BaseModel):
    cluster_id: int = Field(description="Id of the cluster's first article.")
    items: list[ArticleRead] = Field(description="The other articles of the cluster.")


class ChangeRead(BaseModel):
    seq: int = Field(description="Position in the feed; increases by change.")
    kind: Literal["created", "updated", "deleted"]
    article_id: int
    at: datetime
    article: ArticleRead | None = Field(description="The article as it is now; null once deleted.")


class ChangePage(BaseModel):
    items: list[ChangeRead]
    next_cursor: str = Field(description="Pass as `cursor` to continue (also when empty).")
    has_more: bool = Field(description="More changes are waiting right now.")
