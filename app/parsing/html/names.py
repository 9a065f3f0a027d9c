"""Person names in bylines: "By A and B, AP Writer" is two people and a credit to AP."""

import re
from collections.abc import Sequence

from app.parsing.html.credits import WIRE, wire_name
from app.parsing.html.metadata import is_site_name
from app.text.normalize import clean_line

_MAX_NAME_WORDS = 5
_MAX_NAME = 60
_LEAD_IN = re.compile(
    r"^(?:(?:written|posted|reported|words|story|text|published)\s+)?"
    r"(?:by|von|por|par|oleh|di|door|av|af)\b\s*:?\s*|^(?:author|authors|autor|auteur)\s*:\s*"
    r"|^about the author\s*:?\s*",
    re.IGNORECASE,
)
# Where a byline turns into a date or a label: " on Monday", " | Nov 18", " - 2019-04-10".
_MONTHS = r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_BYLINE_END = re.compile(
    rf"\s+(?:on|at|published|updated|posted|last|am|le)\s+.*$"
    rf"|\s*[|•·]\s*.*$"
    rf"|\s+[-–—]\s*(?:\d|(?:{_MONTHS})).*$"
    rf"|\s*\b\d{{1,4}}[-/.]\d{{1,2}}[-/.]\d{{1,4}}.*$"
    rf"|\s*\b(?:{_MONTHS})[a-z]*\.?\s+\d.*$",
    re.IGNORECASE,
)
# A wire after a full name ("JILL LAWLESS Associated Press"); one word before it is a name
# ("Michael Bloomberg").
_TRAILING_WIRE = re.compile(rf"^(?P<rest>\S+\s+\S.*?)\s+(?P<wire>{WIRE})$")
_SPLIT = re.compile(r"\s*(?:,|;|\s&\s|\sand\s|\sund\s|\se\s|\sy\s|\set\s|\n)\s*", re.IGNORECASE)
# Words that make a byline segment a job title, an organisation, or page furniture.
# fmt: off
_JOB_WORDS = frozenset({
    "staff", "staffs", "team", "desk", "editorial", "editorials", "editor", "editors", "admin",
    "administrator", "writer", "writers", "reporter", "reporters", "correspondent",
    "correspondents", "columnist", "contributor", "contributors", "chief", "senior",
    "associate", "managing", "executive", "director", "producer", "photographer",
    "photographers", "analyst", "manager", "president", "founder", "officer", "host", "anchor",
    "critic", "fellow", "professor", "intern", "special", "contributing", "national",
    "political", "international", "business", "sports", "science", "health", "medically",
    "reviewed", "review", "fact", "checked", "guest",
})
_ORG_WORDS = frozenset({
    "news", "reports", "report", "wire", "wires", "services", "service", "press", "agency",
    "agencies", "newsroom", "bureau", "media", "online", "digital", "magazine", "blog", "daily",
    "journal", "tribune", "herald", "institute", "university", "association", "foundation",
    "society", "council", "ministry", "department", "company",
})
_UI_WORDS = frozenset({
    "sponsored", "partner", "content", "web", "site", "updated", "published", "posted", "share",
    "email", "facebook", "twitter", "instagram", "linkedin", "follow", "more", "all", "view",
    "profile", "bio", "biography", "about", "watch", "stories", "recent", "latest", "articles",
    "posts",
})
_NOT_NAME_WORDS = _JOB_WORDS | _ORG_WORDS | _UI_WORDS
# Name particles that stay lower-case ("Ludwig van Beethoven", "Maria da Silva").
_PARTICLES = frozenset({
    "de", "da", "das", "do", "dos", "du", "del", "della", "der", "den", "van", "von", "ter",
    "ten", "la", "le", "di", "bin", "al", "y", "e",
})
# fmt: on
# Degrees and suffixes after a name ("Rachael Link, MS, RD"): not organisations.
_DEGREE = re.compile(
    r"^(?:[A-Z]|MD|MS|MA|BA|BS|BSc|MSc|RD|RDN|RN|PhD|MBA|MPH|JD|DO|DDS|CPA|CFA|LD|LDN|CDE|NP|PA|"
    r"Jr|Sr|II|III|IV)\.?$"
)
_ACRONYM = re.compile(r"^[A-Z]{2,6}$")
_NAME_WORD = re.compile(r"^(?:[^\W\d_][\w'’.-]*|[^\W\d_]\.)$")
_POSSESSIVE = ("'s", "’s")


def split_byline(text: str, site_keys: Sequence[str] = ()) -> tuple[list[str], str | None]:
    """Person names and a credited organisation from one byline ("By A and B, AP Writer")."""
    text = _BYLINE_END.sub("", _LEAD_IN.sub("", clean_line(text)))
    segments = [_LEAD_IN.sub("", s).strip(" .,:;-–—") for s in _SPLIT.split(text)]
    segments = [s for s in segments if s]
    names: list[str] = []
    organisation = None
    for index, segment in enumerate(segments):
        if match := _TRAILING_WIRE.match(segment):  # "JILL LAWLESS Associated Press"
            organisation = organisation or wire_name(match["wire"])
            segment = match["rest"]
        if site_keys and is_site_name(segment, site_keys):
            continue  # "By LinkNaija", "IGN Staff": the site itself, which `source` names
        if org := _organisation(segment):
            organisation = organisation or org
        elif name := person_name(segment, alone=len(segments) == 1 and index == 0):
            names.append(name)
    return dedupe(names), organisation


def _organisation(segment: str) -> str | None:
    """A wire, a wire in a job title ("AP Auto Writer"), a named body ("European Space
    Agency") or a bare acronym ("CNN")."""
    if wire := wire_name(segment):
        return wire
    words = segment.split()
    lowered = {word.lower() for word in words}
    if lowered & _JOB_WORDS:
        return next((wire for word in words if (wire := wire_name(word))), None)
    if 1 < len(words) <= _MAX_NAME_WORDS + 1 and lowered & _ORG_WORDS and words[0][0].isupper():
        return segment if "@" not in segment else None
    if len(words) == 1 and _ACRONYM.match(segment) and not _DEGREE.match(segment):
        return segment
    return None


def person_name(text: str, *, alone: bool = True) -> str | None:
    """`text` as a person's name, or None for titles, desks, handles and organisations."""
    text = clean_line(text).strip(" .,;:")
    words = text.split()
    if not words or len(words) > _MAX_NAME_WORDS or len(text) > _MAX_NAME:
        return None
    if any(w.lower().strip(".,") in _NOT_NAME_WORDS for w in words) or wire_name(text):
        return None
    if not all(_NAME_WORD.match(w) and not w.endswith(_POSSESSIVE) for w in words):
        return None
    if text.isupper() and len(text) > 3:  # "FEDERICA LUSIARDI" as bylines shout it
        words = [w.capitalize() for w in words]
    if not all(w[0].isupper() or w.lower() in _PARTICLES for w in words):
        return None
    if len(words) == 1 and (not alone or _DEGREE.match(words[0]) or len(words[0]) < 3):
        return None
    return " ".join(words)


def dedupe(names: list[str]) -> list[str]:
    return list({name.casefold(): name for name in reversed(names)}.values())[::-1]
