"""Publication and modification dates as the page declares them, offset kept."""

import re
from datetime import UTC, datetime, time, timedelta, timezone
from email.utils import parsedate_to_datetime

import htmldate

from app.parsing.html.metadata import ld_article_value, ld_text
from app.parsing.html.page import Found, Page

_PUBLISHED_META = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "publishdate",
    "publish-date",
    "pubdate",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dcterms.issued",
    "dcterms.created",
    "dc.date",
    "date",
)
_MODIFIED_META = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "last-modified",
    "dc.date.modified",
    "dcterms.modified",
)
_PUBLISHED_TIME = (
    "//time[@pubdate][@datetime]",
    "//article//time[@datetime]",
    "//main//time[@datetime]",
    "(//time[@datetime])[1]",
)
_MODIFIED_TIME = ("//time[@datetime][contains(@class, 'updat') or contains(@class, 'modif')]",)
# /2019/11/18/ or /2019-11-18- in a path: many CMSs put the publication day there.
_URL_DATE = re.compile(
    r"/(?P<y>(?:19|20)\d\d)[/-](?P<m>0?[1-9]|1[0-2])[/-](?P<d>0?[1-9]|[12]\d|3[01])(?:[/_.-]|$)"
)
_MIN_YEAR = 1900  # CMS placeholders such as 0001-01-01 are not dates
# Nor is 9999-12-31 ("never"); and below it any offset still converts to UTC without overflow.
_MAX_YEAR = 9998
_MAX_DATE_TEXT = 64
_MAX_OFFSET_HOURS = 14
_DAY = timedelta(days=1)
_CLOCK = re.compile(r"\b(?P<h>\d{1,2}):(?P<m>[0-5]\d)\s*(?P<ampm>[ap])\.?m\b", re.IGNORECASE)


def parse_datetime(text: str | None) -> datetime | None:
    """An ISO 8601 or RFC 2822 timestamp; the declared offset is kept, none means UTC."""
    value = _parse(text)
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _parse(text: str | None) -> datetime | None:
    """The timestamp as written: naive when the page gave no offset."""
    text = (text or "").strip()
    if not text or len(text) > _MAX_DATE_TEXT:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    epoch = datetime(1970, 1, 1, tzinfo=value.tzinfo)
    if not _MIN_YEAR <= value.year <= _MAX_YEAR or value == epoch:
        return None
    return value


def published(page: Page) -> Found[datetime] | None:
    """JSON-LD, meta, microdata, <time>, a date in the URL, then htmldate's guess."""
    declared = [
        *_json_ld(page, "datePublished"),
        *_metas(page, _PUBLISHED_META),
        *_microdata(page, "datePublished"),
        *_times(page, _PUBLISHED_TIME),
    ]
    if not declared:
        return _url_date(page.url) or _htmldate(page, original=True)
    chosen = declared[0]
    others = [found.value for found in declared[1:]]
    value = _with_local_offset(_aware(chosen.value), others, _clock_hints(page))
    return Found(value, chosen.rule)


def modified(page: Page) -> Found[datetime] | None:
    """The declared modification time (same sources), else htmldate's latest date."""
    declared = [
        *_json_ld(page, "dateModified"),
        *_metas(page, _MODIFIED_META),
        *_microdata(page, "dateModified"),
        *_times(page, _MODIFIED_TIME),
    ]
    if declared:
        return Found(_aware(declared[0].value), declared[0].rule)
    return _htmldate(page, original=False)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _with_local_offset(
    value: datetime, others: list[datetime], clocks: list[tuple[int, int]]
) -> datetime:
    """The same instant in the publisher's offset, when another tag or the visible text
    states it.

    Pages often give the UTC time in one tag and local time in another ("…T04:58Z" beside
    "2019-11-18 20:58" without offset, or "11:26 pm EST" as the visible text): a whole-hour
    gap with equal minutes is the offset. The instant stays the same; only the declared
    calendar day follows the publisher.
    """
    if value.utcoffset() != timedelta(0) or value.time() == time():  # offset given, or date only
        return value
    for other in others:
        if other.tzinfo and other.utcoffset() and other == value:
            return value.astimezone(other.tzinfo)
        if other.tzinfo is None and (offset := _offset(other - value.replace(tzinfo=None))):
            return value.astimezone(timezone(offset))
    for hour, minute in clocks:
        gap = timedelta(hours=hour - value.hour, minutes=minute - value.minute)
        if offset := _offset(gap if gap <= timedelta(hours=_MAX_OFFSET_HOURS) else gap - _DAY):
            return value.astimezone(timezone(offset))
    return value


def _offset(gap: timedelta) -> timedelta | None:
    hours, rest = divmod(gap, timedelta(hours=1))
    return gap if not rest and 0 < abs(hours) <= _MAX_OFFSET_HOURS else None


def _clock_hints(page: Page) -> list[tuple[int, int]]:
    """Local clock times ("8:19 PM") written in <time> and date elements or date metas."""
    elements = [*page.tree.xpath("//time"), *page.itemprops.get("datePublished", ())]
    texts = [element.text_content() for element in elements]
    texts += [text for name, values in page.meta.items() if "date" in name for text in values]
    hints = []
    for match in (_CLOCK.search(text) for text in texts if len(text) < _MAX_DATE_TEXT * 2):
        if match and 1 <= (hour := int(match["h"])) <= 12:
            hints.append((hour % 12 + 12 * (match["ampm"].lower() == "p"), int(match["m"])))
    return hints


def _json_ld(page: Page, key: str) -> list[Found[datetime]]:
    values = [ld_article_value(page, key), *(obj.get(key) for obj in page.json_ld)]
    return [Found(v, "json-ld") for value in values if (v := _parse(ld_text(value)))]


def _metas(page: Page, names: tuple[str, ...]) -> list[Found[datetime]]:
    texts = [text for name in names for text in page.meta.get(name, ())]
    return [Found(value, "meta") for text in texts if (value := _parse(text))]


def _microdata(page: Page, name: str) -> list[Found[datetime]]:
    texts = [
        element.get("content") or element.get("datetime") or element.text
        for element in page.itemprops.get(name, ())
    ]
    return [Found(value, "microdata") for text in texts if (value := _parse(text))]


def _times(page: Page, paths: tuple[str, ...]) -> list[Found[datetime]]:
    texts = [element.get("datetime") for path in paths for element in page.tree.xpath(path)]
    return [Found(value, "html") for text in texts if (value := _parse(text))]


def _url_date(url: str | None) -> Found[datetime] | None:
    if not url or not (match := _URL_DATE.search(url)):
        return None
    try:
        return Found(
            datetime(int(match["y"]), int(match["m"]), int(match["d"]), tzinfo=UTC), "url-pattern"
        )
    except ValueError:  # 2019/02/31
        return None


def _htmldate(page: Page, *, original: bool) -> Found[datetime] | None:
    try:
        found = htmldate.find_date(page.tree, url=page.url, original_date=original)
    except Exception:  # a third-party guess must not fail the whole page
        return None
    value = parse_datetime(found) if isinstance(found, str) else None
    return Found(value, "htmldate") if value else None
