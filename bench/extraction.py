"""Article extraction: the service's `extract_article` beside plain trafilatura, same pages.

Usage: .venv/bin/python bench/extraction.py [--data DIR] [--repeat N]

The service side calls `extract_page`, which is `extract_article` (same code path) plus the
publication time in the offset the page declared, needed for the date measure below.

DIR holds `<id>.html.gz` pages, `ground-truth.json` ({id: {"articleBody", "url"}}) and,
optionally, `labels.json` (headline, authors, published date, publisher, credited wire); the
default is bench/data/extraction, the dev half of the Zyte article-extraction benchmark (91
pages, MIT; see its README). Reads files only.

Body measure, as the Zyte article-extraction-benchmark's evaluate.py computes it:
tokens are the `\\w+` runs of the text (case kept); shingles are the multiset of every run of
4 consecutive tokens. Per page, TP = |pred ∩ truth| (multiset), precision = TP / |pred|,
recall = TP / |truth|; a page with no predicted shingle is left out of the precision mean,
one with no true shingle out of the recall mean. Precision and recall are the means over
pages; "f1" is 2PR / (P + R) of those two means (Zyte's headline figure); "f1_pages" is
the mean of the per-page F1 values (empty output scores 0), printed beside it.

Metadata measures (labels.json; every labelled page counts):
- headline: equal after Unicode NFKC, whitespace collapsing and straight quotes.
- authors: the same set of names, case-insensitive (no author labelled = none extracted).
- date strict: the calendar date of the extracted publication time, in the offset the page
  declared, is the labelled `published` day; lenient: or one of `published_alt` (the labels
  list there the UTC day when the page's local and UTC days differ). trafilatura's date is
  htmldate's day as written on the page. "date strict, UTC day" is the service's stored
  (UTC) value against `published`.
- source: equals `credited_org` when the page credits one (a wire, a syndication source),
  else `publisher` or one of its aliases. publisher (lenient): any of publisher, aliases,
  credited_org. Compared case-insensitively without a leading "The" and punctuation;
  "AP" and "Associated Press" are one name. trafilatura's value is its `sitename`.
pages/s is the best of --repeat passes over the pages held in memory, one core, extractors
interleaved so both see the same machine state.
"""

import argparse
import gzip
import json
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.errors import Unprocessable
from app.parsing.html import extract_page

DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "extraction"
_TOKEN = re.compile(r"\w+")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "′": "'", "“": '"', "”": '"', "„": '"'})
_ALIASES = {"associatedpress": "ap", "agencefrancepresse": "afp"}


@dataclass
class Output:
    """What one extractor said about one page."""

    body: str = ""
    headline: str | None = None
    authors: list[str] = field(default_factory=list)
    date: str | None = None  # YYYY-MM-DD in the page's declared offset
    utc_date: str | None = None
    source: str | None = None
    crashed: bool = False


def service(html: bytes, url: str) -> Output:
    try:
        result = extract_page(html, url)
    except Unprocessable:
        return Output()
    article, declared = result.article, result.published_declared
    return Output(
        body=article.body,
        headline=article.headline,
        authors=article.authors,
        date=declared.date().isoformat() if declared else None,
        utc_date=article.published_at.date().isoformat() if article.published_at else None,
        source=article.source,
    )


def plain_trafilatura(html: bytes, url: str) -> Output:
    document = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if document is None:
        return Output()
    return Output(
        body=document.text or "",
        headline=document.title,
        authors=[a.strip() for a in (document.author or "").split(";") if a.strip()],
        date=document.date,
        source=document.sitename,
    )


Extractor = Callable[[bytes, str], Output]
DEFINITIONS = """\
precision/recall: means over pages of 4-word-shingle precision and recall (Zyte's measure);
  f1 = 2PR/(P+R) of those means; f1_pages = mean of per-page F1.
headline: equal after NFKC, whitespace collapsing and straight quotes.
authors: same set of names, case-insensitive. date strict: the published day in the offset the
  page declared; lenient: or a labelled alternative day; "UTC day": the stored UTC value.
source: the credited organisation when labelled, else the publisher or an alias;
  publisher (lenient): any of those. pages/s: best of --repeat passes, one core."""


def run(extractor: Extractor, pages: dict[str, tuple[bytes, dict]]) -> tuple[dict, float]:
    outputs: dict[str, Output] = {}
    start = time.perf_counter()
    for page_id, (html, truth) in pages.items():
        try:
            outputs[page_id] = extractor(html, truth["url"])
        except Exception:  # a crash is a finding to count, not a reason to stop the run
            outputs[page_id] = Output(crashed=True)
    return outputs, time.perf_counter() - start


def shingles(text: str, n: int = 4) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def body_scores(truths: list[str], preds: list[str]) -> dict[str, float]:
    precisions, recalls, f1s = [], [], []
    for truth, pred in zip(truths, preds, strict=True):
        true, found = shingles(truth), shingles(pred)
        tp, n_true, n_pred = sum((true & found).values()), sum(true.values()), sum(found.values())
        precision = tp / n_pred if n_pred else None
        recall = tp / n_true if n_true else None
        if precision is not None:
            precisions.append(precision)
        if recall is not None:
            recalls.append(recall)
        p, r = precision or 0.0, recall or 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    p, r = statistics.mean(precisions), statistics.mean(recalls)
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r),
        "f1_pages": statistics.mean(f1s),
    }


def same_headline(label: str, found: str | None) -> bool:
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).translate(_QUOTES).split())

    return found is not None and norm(label) == norm(found)


def same_authors(label: list[str], found: list[str]) -> bool:
    return {" ".join(a.casefold().split()) for a in label} == {
        " ".join(a.casefold().split()) for a in found
    }


def org_key(name: str) -> str:
    key = re.sub(r"\W+", "", name.casefold().removeprefix("the "))
    return _ALIASES.get(key, key)


def same_org(found: str | None, accepted: list[str | None]) -> bool:
    return found is not None and org_key(found) in {org_key(a) for a in accepted if a}


def metadata_scores(labels: dict, outputs: dict[str, Output]) -> dict[str, float]:
    rows: dict[str, list[bool]] = {}
    for page_id, label in labels.items():
        out = outputs[page_id]
        publisher = [label["publisher"], *label.get("publisher_aliases", [])]
        days = [label["published"], *label.get("published_alt", [])]
        checks = {
            "headline": same_headline(label["headline"], out.headline),
            "authors": same_authors(label["authors"], out.authors),
            "date strict": out.date == label["published"],
            "date lenient": out.date in days,
            "date strict, UTC day": out.utc_date == label["published"],
            "source": same_org(
                out.source, [label["credited_org"]] if label["credited_org"] else publisher
            ),
            "publisher (lenient)": same_org(out.source, [*publisher, label["credited_org"]]),
        }
        for name, ok in checks.items():
            rows.setdefault(name, []).append(ok)
    return {name: sum(oks) / len(oks) for name, oks in rows.items()}


def load(data: Path) -> tuple[dict[str, tuple[bytes, dict]], dict]:
    truth = json.loads((data / "ground-truth.json").read_text())
    labels_path = data / "labels.json"
    labels = json.loads(labels_path.read_text()) if labels_path.exists() else {}
    pages = {
        page_id: (gzip.decompress((data / f"{page_id}.html.gz").read_bytes()), truth[page_id])
        for page_id in sorted(truth)
    }
    return pages, labels


def figures(pages: dict, labels: dict, outputs: dict[str, Output], seconds: float) -> dict:
    ids = list(pages)
    found = body_scores([pages[i][1]["articleBody"] for i in ids], [outputs[i].body for i in ids])
    if labels:
        found |= metadata_scores({i: labels[i] for i in ids if i in labels}, outputs)
    found["pages/s"] = len(pages) / seconds
    found["crashes"] = sum(o.crashed for o in outputs.values())
    found["empty body"] = sum(not o.body and not o.crashed for o in outputs.values())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes; the best counts")
    args = parser.parse_args()
    pages, labels = load(args.data)
    extractors: dict[str, Extractor] = {"service": service, "trafilatura": plain_trafilatura}
    best = dict.fromkeys(extractors, float("inf"))
    outputs: dict[str, dict[str, Output]] = {}
    for _ in range(max(1, args.repeat)):
        for name, extractor in extractors.items():  # interleaved: both see the same machine
            outputs[name], seconds = run(extractor, pages)
            best[name] = min(best[name], seconds)
    results = {name: figures(pages, labels, outputs[name], best[name]) for name in extractors}
    print_table(results, len(pages))
    print(DEFINITIONS)


def print_table(results: dict[str, dict[str, float]], n_pages: int) -> None:
    print(f"{n_pages} pages; trafilatura {trafilatura.__version__}")
    print(f"{'measure':<24}{'service':>10}{'trafilatura':>13}")
    ours, theirs = results["service"], results["trafilatura"]
    for name in ours:
        a, b = ours[name], theirs[name]
        if name in ("crashes", "empty body"):
            print(f"{name:<24}{a:>10.0f}{b:>13.0f}")
        elif name == "date strict, UTC day":
            print(f"{name:<24}{a:>10.3f}{'-':>13}")
        else:
            print(f"{name:<24}{a:>10.3f}{b:>13.3f}")
    print(f"{'pages/s ratio':<24}{ours['pages/s'] / theirs['pages/s']:>10.2f}")


if __name__ == "__main__":
    main()
