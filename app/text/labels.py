"""Lines that are labels rather than prose: the navigation furniture ("Latest news", "Most
read") that both the seed-text parser and the HTML body extractor drop after an article."""

import re

# A navigation label: a short line that does not end like a sentence.
_NAV_MAX_WORDS = 6
_SENTENCE_END = re.compile(r"""[.!?…]["'”’»)\]]*$""")


def ends_sentence(line: str) -> bool:
    """True when the line ends like a sentence (a full stop, ! ? or …, maybe then a quote)."""
    return _SENTENCE_END.search(line) is not None


def is_navigation_label(line: str) -> bool:
    """True for lines like "Latest news" or "Most read": short and not a sentence."""
    return len(line.split()) <= _NAV_MAX_WORDS and not ends_sentence(line)
