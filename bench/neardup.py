"""Near-duplicate detection: precision, recall and speed of app.neardup on a labelled set.

Usage: .venv/bin/python bench/neardup.py [--seed N] [--synthetic N] [--data DIR] [--sweep]

The set is rebuilt at every run, deterministically for a seed (default 1).

Bases: --synthetic (default 400) bodies from bench/corpus.py's ArticleMaker (Zipf words,
~2.6 KB, 4-7 paragraphs; the headline is not part of the body), and the real article
bodies of DIR/ground-truth.json ("articleBody", paragraphs one a line; default
bench/data/extraction, the extraction dev set: 91 bodies of 42 to 3,553 words).
Bases under the scheme's `min_words` are left out.

Positives (the same story republished): every synthetic base is rewritten 3 times, every
real one 4 times. A rewrite applies 1 to 3 of these edits, drawn without replacement and
applied in this order ("lead" and "drop" only for bodies of 4 or more paragraphs, where
they cannot take most of the text with them):
- dateline: "CITY (Agency) - " put before the first paragraph;
- lead: the first paragraph rewritten (its words shuffled: same length and vocabulary,
  almost no 4-word run left);
- drop: one paragraph other than the first removed;
- words: 3 to 6 words, anywhere, replaced by words of the synthetic vocabulary;
- credit: one or two paragraphs appended: "Reporting by ...; Editing by ..." credits
  and/or a publisher's boilerplate (copyright notice, newsletter plug, "originally
  published by", editorial standards);
- format: straight quotes made curly or curly ones straight, lines re-wrapped at 60-80
  columns, double spaces after full stops, " - " for em dashes.
The new headline of a republication is not part of the body, so no edit models it.
Reported apart, not counted in the totals: "all six edits" at once (on every base, short
ones too), and "truncated" (only the first 60 % of the paragraphs kept): rewrites that
do not keep most of the text.

Negatives (different stories):
- synthetic unrelated: 2 x --synthetic pairs of different ArticleMaker bodies;
- same topic, same boilerplate: --synthetic pairs of bodies drawn from one 1,500-word
  topic vocabulary (Zipf within it), both with the same dateline and the same credit or
  boilerplate paragraphs;
- follow-up: --synthetic pairs where the second story is new but quotes one paragraph of
  the first, and both end with the same credit or boilerplate paragraphs;
- real unrelated: every pair of different real bodies, split in two categories: as they
  are, and (every other pair) both with the same credit or boilerplate paragraphs added.

Printed: for each category the pairs, the share flagged by `is_near_duplicate`, the share
made LSH candidates (a shared band key), the estimated Jaccard similarity (min, mean, max)
and the mean exact one (shingle sets from an independent regex tokenizer); precision,
recall and false-positive rate per negative pair of `is_near_duplicate`, of the candidate
stage, and of both together (candidates, then the check: what the archive does); the mean
error of the estimate; the expected false candidates per lookup in an archive of a million
unrelated articles (mean over the plain real unrelated pairs of 1 - (1 - J**rows)**bands at
their exact J); recall of the positives by exact Jaccard; precision and recall at other
thresholds; signature + band keys speed on one core (best of 3 passes, with the load
average, as other processes share the machine). --sweep adds the totals for other shingle
sizes, bin counts, band shapes and thresholds.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import textwrap
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.neardup import DEFAULT, Scheme
from bench.corpus import ArticleMaker, vocabulary

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "extraction"
EDITS = ("dateline", "lead", "drop", "words", "credit", "format")
SHORT = {"lead", "drop"}  # edits left out for bodies of fewer than 4 paragraphs
CITIES = ["LONDON", "WASHINGTON", "NAIROBI", "TOKYO", "SAO PAULO", "BERLIN", "MUMBAI"]
AGENCIES = ["Reuters", "AP", "AFP", "Bloomberg", "dpa", "Wire Service"]
NAMES = ["Ana Ruiz", "Tom Baker", "Li Wei", "Sara Okafor", "Jon Ek", "Mira Das", "Paul Roy"]
BOILERPLATE = [
    "Copyright {year} {agency}. All rights reserved. This material may not be published, "
    "broadcast, rewritten or redistributed without permission.",
    "Sign up for the {agency} morning newsletter to get the day's top stories delivered "
    "to your inbox before breakfast, every weekday.",
    "This article was originally published by {agency} and is republished here under a "
    "content-sharing agreement. Read the original story on their website.",
    "Our standards: the {agency} editorial principles apply to every story we publish.",
]


def credit(rng: random.Random) -> list[str]:
    names = rng.sample(NAMES, 3)
    lines = [f"Reporting by {names[0]} in {rng.choice(CITIES).title()}; Editing by {names[1]}"]
    if rng.random() < 0.5:
        lines[0] += f" and {names[2]}"
    template = rng.choice(BOILERPLATE)
    lines.append(template.format(year=rng.randint(2015, 2025), agency=rng.choice(AGENCIES)))
    return rng.sample(lines, rng.randint(1, 2))


def reformat(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        text = text.replace("'", "\u2019").replace(' "', " \u201c").replace('"', "\u201d")
    else:
        text = text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
    text = text.replace("\u2014", " - ").replace(". ", ".  ")
    width = rng.randint(60, 80)
    return "\n\n".join(textwrap.fill(p, width) for p in text.split("\n\n"))


def rewrite(
    paragraphs: list[str], edits: list[str] | tuple[str, ...], rng: random.Random, words: list[str]
) -> str:
    out = list(paragraphs)
    for edit in edits:
        if edit == "dateline":
            out[0] = f"{rng.choice(CITIES)} ({rng.choice(AGENCIES)}) - {out[0]}"
        elif edit == "lead":
            lead = out[0].split()
            rng.shuffle(lead)
            out[0] = " ".join(lead)
        elif edit == "drop" and len(out) >= 3:
            del out[rng.randrange(1, len(out))]
        elif edit == "words":
            for _ in range(rng.randint(3, 6)):
                i = rng.randrange(len(out))
                tokens = out[i].split()
                tokens[rng.randrange(len(tokens))] = rng.choice(words)
                out[i] = " ".join(tokens)
        elif edit == "credit":
            out += credit(rng)
        elif edit == "truncate":
            out = out[: max(1, round(len(out) * 0.6))]
    text = "\n\n".join(out)
    return reformat(text, rng) if "format" in edits else text


def topic_body(rng: random.Random, topic: list[str], weights: list[float]) -> list[str]:
    def sentence() -> str:
        return " ".join(rng.choices(topic, weights, k=rng.randint(8, 22))).capitalize() + "."

    paragraphs: list[str] = []
    while sum(len(p) + 2 for p in paragraphs) < 2600:
        paragraphs.append(" ".join(sentence() for _ in range(rng.randint(3, 6))))
    return paragraphs


@dataclass
class LabelledSet:
    texts: list[str] = field(default_factory=list)
    pairs: list[tuple[int, int, str, bool]] = field(default_factory=list)  # a, b, category, dup
    extra: set[str] = field(default_factory=set)  # categories left out of the totals

    def add(self, text: str) -> int:
        self.texts.append(text)
        return len(self.texts) - 1

    def pair(self, a: str | int, b: str | int, category: str, dup: bool) -> None:
        first, second = (t if isinstance(t, int) else self.add(t) for t in (a, b))
        self.pairs.append((first, second, category, dup))


def real_bodies(data: Path, min_words: int) -> list[list[str]]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    bodies = [
        [p.strip() for p in item["articleBody"].split("\n") if p.strip()]
        for _, item in sorted(truth.items())
    ]
    return [b for b in bodies if len(" ".join(b).split()) >= min_words]


def build(seed: int, synthetic: int, data: Path, min_words: int) -> LabelledSet:
    rng = random.Random(seed)
    maker = ArticleMaker(seed=seed)
    words = vocabulary()
    labelled = LabelledSet(extra={"all six edits", "truncated"})
    synth = [maker.parts(i)["paragraphs"] for i in range(synthetic * 3)]
    real = real_bodies(data, min_words) if (data / "ground-truth.json").exists() else []
    bases = [(p, "synthetic", 3) for p in synth[:synthetic]] + [(p, "real", 4) for p in real]
    originals = []
    for paragraphs, kind, copies in bases:
        original = labelled.add("\n\n".join(paragraphs))
        originals.append(original)
        # a lead rewritten or a paragraph dropped would take most of a short body with it
        allowed = EDITS if len(paragraphs) >= 4 else [e for e in EDITS if e not in SHORT]
        for _ in range(copies):
            edits = rng.sample(allowed, rng.randint(1, 3))
            edits.sort(key=EDITS.index)
            category = f"{kind} rewrite, {len(edits)} edit{'s' * (len(edits) > 1)}"
            labelled.pair(original, rewrite(paragraphs, edits, rng, words), category, True)
        labelled.pair(original, rewrite(paragraphs, list(EDITS), rng, words), "all six edits", True)
        labelled.pair(original, rewrite(paragraphs, ["truncate"], rng, words), "truncated", True)
    for _ in range(2 * synthetic):
        a, b = rng.sample(range(len(synth)), 2)
        labelled.pair("\n\n".join(synth[a]), "\n\n".join(synth[b]), "synthetic unrelated", False)
    ranked = words[:]
    for _ in range(synthetic):
        rng.shuffle(ranked)
        topic, weights = ranked[:1500], [1 / r for r in range(1, 1501)]
        tail = [f"{rng.choice(CITIES)} ({rng.choice(AGENCIES)}) -", *credit(rng)]
        a, b = (topic_body(rng, topic, weights) for _ in range(2))
        texts = ["\n\n".join([tail[0] + " " + p[0], *p[1:], *tail[1:]]) for p in (a, b)]
        labelled.pair(texts[0], texts[1], "same topic, same boilerplate", False)
    for i in range(synthetic):
        first, second = synth[synthetic + i], list(synth[2 * synthetic + i])
        second.insert(rng.randrange(1, len(second)), rng.choice(first))
        tail = credit(rng)
        labelled.pair("\n\n".join(first + tail), "\n\n".join(second + tail), "follow-up", False)
    for i, a in enumerate(real):
        for j in range(i + 1, len(real)):
            if (i + j) % 2:
                tail = credit(rng)
                texts = ("\n\n".join(a + tail), "\n\n".join(real[j] + tail))
                labelled.pair(texts[0], texts[1], "real unrelated, same boilerplate", False)
            else:
                ids = originals[synthetic + i], originals[synthetic + j]
                labelled.pair(*ids, "real unrelated", False)
    return labelled


_WORD = re.compile(r"[^\W_]+")


def exact_jaccard(labelled: LabelledSet, k: int) -> list[float]:
    """Exact Jaccard similarity of each pair's k-word shingle sets (regex tokenizer)."""
    words: dict[int, list[str]] = {}
    result = []
    for a, b, *_ in labelled.pairs:
        sets = []
        for i in (a, b):
            if i not in words:
                text = unicodedata.normalize("NFKC", labelled.texts[i]).casefold()
                words[i] = _WORD.findall(text)
            w = words[i]
            sets.append({" ".join(w[j : j + k]) for j in range(len(w) - k + 1)})
        union = len(sets[0] | sets[1])
        result.append(len(sets[0] & sets[1]) / union if union else 0.0)
    return result


@dataclass
class Scored:
    category: str
    dup: bool
    similarity: float
    flagged: bool
    candidate: bool
    exact: float


def score(scheme: Scheme, labelled: LabelledSet, exact: list[float]) -> list[Scored]:
    sigs = [scheme.signature(t) for t in labelled.texts]
    keys = [set(scheme.band_keys(s)) for s in sigs]
    return [
        Scored(
            category,
            dup,
            scheme.similarity(sigs[a], sigs[b]),
            scheme.is_near_duplicate(sigs[a], sigs[b]),
            bool(keys[a] & keys[b]),
            j,
        )
        for (a, b, category, dup), j in zip(labelled.pairs, exact, strict=True)
    ]


def rates(rows: list[Scored], flag: str) -> tuple[float, float, float]:
    tp = sum(r.dup and getattr(r, flag) for r in rows)
    fp = sum(not r.dup and getattr(r, flag) for r in rows)
    positives = sum(r.dup for r in rows)
    negatives = len(rows) - positives
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / positives, fp / negatives


def false_candidates_per_million(scheme: Scheme, rows: list[Scored]) -> float:
    real = [r.exact for r in rows if r.category == "real unrelated"]
    if not real:
        return float("nan")
    hit = [1 - (1 - j**scheme.rows) ** scheme.bands for j in real]
    return 1e6 * statistics.fmean(hit)


def report(scheme: Scheme, labelled: LabelledSet, exact: list[float], detail: bool) -> None:
    rows = score(scheme, labelled, exact)
    counted = [r for r in rows if r.category not in labelled.extra]
    if detail:
        print(
            f"{'category':34} {'pairs':>6} {'flagged':>8} {'cand.':>6} "
            f"{'est. J: min':>11} {'mean':>5} {'max':>5} {'J mean':>7}"
        )
        for category in dict.fromkeys(r.category for r in rows):
            group = [r for r in rows if r.category == category]
            print(
                f"{category:34} {len(group):6} "
                f"{statistics.fmean(r.flagged for r in group):8.3f} "
                f"{statistics.fmean(r.candidate for r in group):6.3f} "
                f"{min(r.similarity for r in group):11.3f} "
                f"{statistics.fmean(r.similarity for r in group):5.3f} "
                f"{max(r.similarity for r in group):5.3f} "
                f"{statistics.fmean(r.exact for r in group):7.3f}"
            )
        print()
    both = [Scored(**{**vars(r), "flagged": r.flagged and r.candidate}) for r in counted]
    for name, data, flag in [
        ("is_near_duplicate", counted, "flagged"),
        ("LSH candidates", counted, "candidate"),
        ("candidates, then check", both, "flagged"),
    ]:
        precision, recall, fpr = rates(data, flag)
        print(f"{name:24} precision {precision:.4f}  recall {recall:.4f}  FP rate {fpr:.5f}")
    errors = [r.similarity - r.exact for r in counted]
    print(
        f"estimate - exact J: mean {statistics.fmean(errors):+.4f}, "
        f"mean abs {statistics.fmean(map(abs, errors)):.4f}; expected false candidates per "
        f"lookup in 1M unrelated articles: {false_candidates_per_million(scheme, rows):.2f}"
    )
    if not detail:
        return
    print("positives by exact J:  pairs  check  cand.  both")
    for low, high in [(0.5, 1.01), (0.4, 0.5), (0.3, 0.4), (0.0, 0.3)]:
        group = [r for r in counted if r.dup and low <= r.exact < high]
        if group:
            print(
                f"  {low:.1f} <= J < {min(high, 1):.1f}  {len(group):6} "
                f"{statistics.fmean(r.flagged for r in group):6.3f} "
                f"{statistics.fmean(r.candidate for r in group):6.3f} "
                f"{statistics.fmean(r.flagged and r.candidate for r in group):5.3f}"
            )
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7):
        other = [Scored(**{**vars(r), "flagged": r.similarity >= threshold}) for r in counted]
        precision, recall, _ = rates(other, "flagged")
        print(f"  threshold {threshold}: precision {precision:.4f}  recall {recall:.4f}")


def throughput(scheme: Scheme, texts: list[str], label: str) -> None:
    wall = cpu = float("inf")
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        for text in texts:
            scheme.band_keys(scheme.signature(text))
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    size = statistics.fmean(len(t.encode()) for t in texts)
    print(
        f"{label}: {len(texts)} bodies, {size / 1000:.1f} KB on average: "
        f"{len(texts) / wall:,.0f} articles/s, {wall / len(texts) * 1e6:.1f} µs per article "
        f"(CPU {cpu / len(texts) * 1e6:.1f} µs; load average {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--synthetic", type=int, default=400)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    labelled = build(args.seed, args.synthetic, args.data, DEFAULT.min_words)
    texts = labelled.texts
    exact = {DEFAULT.shingle_words: exact_jaccard(labelled, DEFAULT.shingle_words)}
    print(f"{len(labelled.pairs)} labelled pairs, {len(texts)} bodies; {DEFAULT}\n")
    report(DEFAULT, labelled, exact[DEFAULT.shingle_words], detail=True)
    print()
    maker = ArticleMaker(seed=args.seed + 1)
    synth = ["\n\n".join(maker.parts(i, body_bytes=3000)["paragraphs"]) for i in range(2000)]
    throughput(DEFAULT, synth, "synthetic")
    real = ["\n\n".join(b) for b in real_bodies(args.data, 0)] if args.data.exists() else []
    if real:
        throughput(DEFAULT, real, "real (dev corpus)")
        throughput(DEFAULT, [t for t in real if 2000 <= len(t.encode()) <= 4000], "real 2-4 KB")
    if args.sweep:
        for k in (3, 5):
            exact[k] = exact_jaccard(labelled, k)
        for options in (
            {"shingle_words": 3},
            {"shingle_words": 5},
            {"hashes": 64},
            {"hashes": 256},
            {"rows": 2},
            {"rows": 4, "bands": 16},
            {"threshold": 0.5},
            {"threshold": 0.6},
        ):
            scheme = replace(DEFAULT, **options)
            print(f"\n{options}")
            report(scheme, labelled, exact[scheme.shingle_words], detail=False)
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
