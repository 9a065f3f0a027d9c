"""Wire services and the ways articles credit them, with one canonical name each."""

import re

# Canonical name, then its spellings. Acronyms match in capitals only, so "ap" or "ani" in
# running text never count; spelled-out names match in any case.
_WIRES: tuple[tuple[str, str, str], ...] = (
    ("AP", r"(?:the\s+)?associated\s+press", "AP"),
    ("Reuters", r"(?:thomson\s+)?reuters", "REUTERS"),
    ("AFP", r"agence\s+france[-\s]presse", "AFP"),
    ("PTI", r"press\s+trust\s+of\s+india", "PTI"),
    ("IANS", r"indo[-\s]asian\s+news\s+service", "IANS"),
    ("ANI", r"asian\s+news\s+international", "ANI"),
    ("UPI", r"united\s+press\s+international", "UPI"),
    ("dpa", r"deutsche\s+presse[-\s]agentur", "DPA|dpa"),
    ("Xinhua", r"xinhua(?:\s+news\s+agency)?", "XINHUA"),
    ("EFE", r"agencia\s+efe", "EFE"),
    ("ANSA", r"agenzia\s+ansa", "ANSA"),
    ("Kyodo", r"kyodo(?:\s+news)?", "KYODO"),
    ("Yonhap", r"yonhap(?:\s+news\s+agency)?", "YONHAP"),
    ("Bloomberg", r"bloomberg(?:\s+news)?", "BLOOMBERG"),
)
WIRE = "|".join(f"(?i:{spelled})|{acronym}" for _, spelled, acronym in _WIRES)
_WHOLE = [(name, re.compile(f"(?:(?i:{spelled})|{acr})")) for name, spelled, acr in _WIRES]
# "WASHINGTON (AP) —", "LONDON, Nov 19 (Reuters) -": a dateline opening the first paragraph.
_DATELINE = re.compile(rf"^[^()\n]{{0,80}}\((?P<wire>{WIRE})\)\s*(?:[-—–:]|$)")
# "— Reuters", "- AP", "(AFP)": a credit line closing the text.
_CREDIT_LINE = re.compile(rf"^(?:[-—–]+\s*|\(\s*)(?P<wire>{WIRE})\s*\)?\.?$")
# Reuters' house style ends every story with both of these. Two searches, not one pattern
# with ".*" between them: that one rescanned the line from every "reporting by" (quadratic:
# 16,000 of them took 35 s).
_REPORTING_BY = re.compile(r"\breporting by\b", re.IGNORECASE)
_EDITING_BY = re.compile(r"\bediting by\b", re.IGNORECASE)


def wire_name(text: str) -> str | None:
    """The canonical wire name when `text` is nothing but a wire service's name."""
    text = text.strip(" .,;:-—–()")
    for name, pattern in _WHOLE:
        if pattern.fullmatch(text):
            return name
    return None


def dateline_wire(paragraph: str) -> str | None:
    if match := _DATELINE.match(paragraph):
        return wire_name(match["wire"])
    return None


def closing_credit_wire(line: str) -> str | None:
    if match := _CREDIT_LINE.match(line):
        return wire_name(match["wire"])
    reporting = _REPORTING_BY.search(line)
    return "Reuters" if reporting and _EDITING_BY.search(line, reporting.end()) else None
