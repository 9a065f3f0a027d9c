"""Synthetic seed-format articles for the benchmarks: Zipf-distributed words, ~3 KB bodies."""

import itertools
import random
from collections.abc import Iterator

_SYLLABLES = [
    "ka",
    "ro",
    "mi",
    "ne",
    "tu",
    "sa",
    "li",
    "vo",
    "pe",
    "da",
    "gri",
    "mon",
    "tel",
    "ush",
    "ar",
    "ben",
    "cor",
    "fal",
    "hin",
    "jor",
]


def vocabulary(size: int = 20_000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = {"".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4))) for _ in range(size * 2)}
    return sorted(words)[:size]


class ArticleMaker:
    """Deterministic articles: the same index always gives the same text."""

    def __init__(self, seed: int = 1, sources: int = 300) -> None:
        self.words = vocabulary()
        ranks = range(1, len(self.words) + 1)
        # Zipf: a realistic word-frequency curve (cumulative, so choices() is O(log n)).
        self.cum_weights = list(itertools.accumulate(1 / r for r in ranks))
        self.sources = [f"Agency {i}" for i in range(sources)]
        self.seed = seed

    def sentence(self, rng: random.Random) -> str:
        words = rng.choices(self.words, cum_weights=self.cum_weights, k=rng.randint(8, 22))
        return " ".join(words).capitalize() + "."

    def paragraph(self, rng: random.Random) -> str:
        return " ".join(self.sentence(rng) for _ in range(rng.randint(3, 6)))

    def parts(self, index: int, body_bytes: int = 2600) -> dict:
        rng = random.Random(self.seed * 1_000_003 + index)
        headline = f"{self.sentence(rng)[:-1]} {index}"
        paragraphs: list[str] = []
        while sum(len(p) + 2 for p in paragraphs) < body_bytes:
            paragraphs.append(self.paragraph(rng))
        links = [
            (self.sentence(rng)[:-1], f"https://news.example/{rng.randrange(10**9)}")
            for _ in range(3)
        ]
        return {
            "headline": headline,
            "paragraphs": paragraphs,
            "source": rng.choice(self.sources),
            "links": links,
        }

    def seed_text(self, index: int) -> str:
        p = self.parts(index)
        lines = [p["headline"], "", "\n\n".join(p["paragraphs"]), "", f"Source: {p['source']}"]
        lines += [f"Also read: {title} {url}" for title, url in p["links"]]
        return "\n".join(lines) + "\n"

    def texts(self, count: int, start: int = 0) -> Iterator[str]:
        for index in range(start, start + count):
            yield self.seed_text(index)
