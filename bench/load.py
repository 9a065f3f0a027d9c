"""Mixed load on a real uvicorn with 2 workers: reads, searches and batch imports at once.

    python bench/load.py [--duration 60] [--warmup 5] [--preload 20000] [--connections 16]
                         [--writers 2] [--write-rate 1] [--read-rate 0] [--batch 50-100]
                         [--postgres-url URL [--pg-setting NAME=VALUE]] [--no-key]
                         [--server-log PATH]

SQLite (a temp file) by default; with --postgres-url a fresh database `load_<random>` is
created on that server, migrated, and dropped at the end (the database named in the URL is
only used to issue CREATE/DROP DATABASE). After a streamed NDJSON preload, `--connections`
keep-alive connections run for `--warmup` seconds (latencies not kept), then `--duration`
seconds: `--writers` of them POST /v1/imports (50-100 new articles each, at `--write-rate`
requests/s in all, 0 for as fast as they can),
the others read: back to back by default (a closed loop: throughput is what the machine
allows, latency is mostly queueing), or at `--read-rate` requests/s in all on a fixed
schedule (an open loop: latency at that throughput, counted from each planned start).
Then every acknowledged write is looked up in the database by id and by the unique marker
in its headline, a sample of them also by content hash and over GET.

Client and server share the machine's cores: the report says how the CPU was split. Latency
is measured by the client (it includes the client's own GIL waits) and, coarsely, by the
server (its Prometheus histogram, summed over both workers).
"""

import argparse
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, column, create_engine, func, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import ArticleMaker
from util import ROOT, Server, migrate, ndjson_answer

from app.parsing.seed_text import parse_seed_text

ROUTES = {
    "get": "GET /v1/articles/{id}",
    "list": "GET /v1/articles?limit=20",
    "cursor": "GET /v1/articles?cursor=...",
    "search": "GET /v1/articles?q=<2 words>",
    "import": "POST /v1/imports",
}
READ_MIX = {"get": 55, "list": 10, "cursor": 15, "search": 20}
CURSOR_DEPTH = 10  # pages a reader follows before it starts again at the first page
JSON = {"content-type": "application/json"}
ARTICLE = table("article", column("id"), column("headline"), column("content_hash"))


class Corpus:
    """Unique seed texts, fast: a unique headline over paragraphs drawn from a Zipf-worded
    pool (ArticleMaker's words, so searches for common words match many articles)."""

    def __init__(self, seed: int = 11, pool: int = 6000) -> None:
        self.maker = ArticleMaker(seed=seed)
        rng = random.Random(seed)
        self.paragraphs = [self.maker.paragraph(rng) for _ in range(pool)]
        self.seed = seed
        # Each in 13-78 % of the articles; a random pair of them in ~7 % (median): a search
        # for two common words that matches many articles and must rank them all.
        self.common_words = self.maker.words[30:300]

    def text(self, n: int, marker: str = "") -> str:
        rng = random.Random(self.seed * 1_000_003 + n)
        headline = f"{marker}{self.maker.sentence(rng)[:-1]} {n}"
        body = "\n\n".join(rng.sample(self.paragraphs, rng.randint(5, 7)))
        links = [
            f"Also read: {self.maker.sentence(rng)[:-1]} https://news.example/{n}/{i}"
            for i in range(3)
        ]
        source = rng.choice(self.maker.sources)
        return "\n".join([headline, "", body, "", f"Source: {source}", *links]) + "\n"


class Recorder:
    """Latencies and errors per route, and what became of every write."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.latency: dict[str, list[float]] = {route: [] for route in ROUTES}
        self.errors: Counter[tuple[str, str]] = Counter()
        self.acked: list[tuple[int, int]] = []  # (article number, id) answered "created"
        self.failed: list[int] = []  # article numbers of import requests that failed
        self.lock = threading.Lock()
        # Latencies of requests started before this (perf_counter) are not kept: the warm-up.
        # Errors and writes are kept from the first request on.
        self.measure_from = 0.0

    def marker(self, n: int) -> str:
        return f"Loadmark {self.run} {n:07d}: "

    def call(
        self, client: httpx.Client, route: str, method: str, url: str, since: float = 0, **kw: Any
    ) -> Any:
        """The response when it is a 2xx, else None (and the error is counted). Latency runs
        from `since` (a planned start, perf_counter) when given, else from now."""
        start = since or time.perf_counter()
        try:
            response = client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.error(route, f"exception {type(exc).__name__}")
            return None
        if start >= self.measure_from:
            self.latency[route].append(time.perf_counter() - start)
        if not response.is_success:
            self.error(route, str(response.status_code))
            return None
        return response

    def error(self, route: str, kind: str) -> None:
        with self.lock:
            self.errors[route, kind] += 1

    def imported(self, numbers: list[int], response: Any, ids: list[int]) -> None:
        if response is None:
            with self.lock:
                self.failed += numbers
            return
        for result in response.json()["results"]:
            if result["status"] == "created":
                self.acked.append((numbers[result["index"]], result["id"]))
                ids.append(result["id"])
            else:
                self.error("import", f"item {result['status']}")

    def error_count(self, exceptions_only: bool = False) -> int:
        with self.lock:
            return sum(
                count
                for (_, kind), count in self.errors.items()
                if kind.startswith("exception") or not exceptions_only
            )

    def requests(self) -> int:
        """Requests answered or failed so far."""
        return sum(map(len, self.latency.values())) + self.error_count(exceptions_only=True)


@dataclass
class Target:
    """What every client thread shares: the server, the recorder, the readable ids."""

    url: str
    headers: dict[str, str]
    rec: Recorder
    ids: list[int]  # preloaded, then every acknowledged write (list.append is atomic)
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={**self.headers, **headers}, timeout=120)


def reader(target: Target, words: list[str], interval: float, seed: int) -> None:
    """Reads: one article, the first page, the next page, a search. Back to back, or one
    every `interval` s on a fixed schedule (open loop: latency runs from the planned start,
    so a server that falls behind is charged for the queue it causes)."""
    rng, rec = random.Random(seed), target.rec
    ops, weights = list(READ_MIX), list(READ_MIX.values())
    cursor, depth = None, 0
    planned = time.perf_counter() + rng.random() * interval
    with target.client() as client:
        while not target.stop.is_set():
            since = planned if interval else 0.0
            if interval and target.stop.wait(max(0.0, planned - time.perf_counter())):
                break
            planned += interval
            op = rng.choices(ops, weights)[0]
            if op == "get":
                rec.call(client, op, "GET", f"/v1/articles/{rng.choice(target.ids)}", since)
            elif op == "search":
                params = {"q": " ".join(rng.sample(words, 2)), "limit": 20}
                rec.call(client, op, "GET", "/v1/articles", since, params=params)
            else:
                if op == "cursor" and cursor and depth < CURSOR_DEPTH:
                    params, depth = {"limit": 20, "cursor": cursor}, depth + 1
                else:
                    op, params, depth = "list", {"limit": 20}, 0
                response = rec.call(client, op, "GET", "/v1/articles", since, params=params)
                cursor = response.json()["next_cursor"] if response else None


def writer(
    target: Target, corpus: Corpus, numbers: Iterator[int], interval: float, batch: str, seed: int
) -> None:
    """Imports of new articles, each request every `interval` s (0: back to back)."""
    rng, rec = random.Random(seed), target.rec
    low, high = (int(v) for v in batch.split("-"))
    next_at = time.monotonic() + (rng.random() - 1) * interval  # writers out of phase
    with target.client(**JSON) as client:
        while not target.stop.is_set():
            if interval:
                # A fixed schedule; after a slow request send at once, but never in a burst.
                next_at = max(next_at + interval, time.monotonic() - interval)
                if target.stop.wait(max(0.0, next_at - time.monotonic())):
                    break
            chunk = [next(numbers) for _ in range(rng.randint(low, high))]
            body = json.dumps({"items": [{"text": corpus.text(n, rec.marker(n))} for n in chunk]})
            response = rec.call(client, "import", "POST", "/v1/imports", content=body)
            rec.imported(chunk, response, target.ids)


def preload(url: str, headers: dict[str, str], corpus: Corpus, args: argparse.Namespace) -> list:
    """Stream `args.preload` articles as one NDJSON import; the ids of those created."""
    count = args.preload

    def lines(bar: tqdm) -> Iterator[bytes]:
        for n in range(count):
            yield (json.dumps({"text": corpus.text(n)}) + "\n").encode()
            bar.update()

    with tqdm(total=count, desc="preload", unit=" articles", file=sys.stderr) as bar:
        response = httpx.post(
            f"{url}/v1/imports",
            content=lines(bar),
            headers={**headers, "content-type": "application/x-ndjson"},
            timeout=3600,
        )
    response.raise_for_status()
    ids = [r["id"] for r in ndjson_answer(response)[0] if r["status"] == "created"]
    if len(ids) != count:
        raise SystemExit(f"preload: only {len(ids)} of {count} articles created")
    return ids


def server_histogram(url: str) -> dict[str, dict[float, float]]:
    """Cumulative request-duration buckets per route, summed over the workers."""
    found: dict[str, dict[float, float]] = defaultdict(dict)
    text_ = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text_):
        for sample in family.samples:
            if sample.name == "http_request_duration_seconds_bucket":
                route = f"{sample.labels['method']} {sample.labels['route']}"
                found[route][float(sample.labels["le"])] = sample.value
    return found


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] == 0:
        return "-"
    bound = next(b for b, c in zip(bounds, counts, strict=True) if c >= q * counts[-1])
    return f"<= {bound * 1000:g}" if bound != float("inf") else "> 120000"


def process_cpu() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, CPU seconds used, user + system), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, float]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        procs[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return procs


def cpu_seconds(root_pid: int) -> float:
    """CPU time of a process and all its descendants."""
    procs = process_cpu()
    tree = {root_pid}
    for _ in range(3):  # uvicorn's workers are children, their helpers grandchildren
        tree |= {pid for pid, (parent, _) in procs.items() if parent in tree}
    return sum(procs[pid][1] for pid in tree & procs.keys())


def database_cpu(db_url: str) -> dict[int, float]:
    """CPU seconds of each Postgres backend serving this database (none for SQLite)."""
    if make_url(db_url).get_backend_name() != "postgresql":
        return {}
    engine = create_engine(db_url, poolclass=NullPool)
    query = text(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with engine.connect() as conn:
        pids = set(conn.execute(query).scalars())
    engine.dispose()
    procs = process_cpu()
    return {pid: procs[pid][1] for pid in pids if pid in procs}


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(values) - values[3] - values[4]) / ticks, sum(values) / ticks


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def verify(db_url: str, corpus: Corpus, target: Target) -> int:
    """Every acknowledged write, by id and marker in the database; a sample by hash and GET."""
    rec = target.rec
    found: dict[int, tuple[str, str]] = {}
    engine = create_engine(db_url)
    with engine.connect() as conn:
        acked_ids = [article_id for _, article_id in rec.acked]
        for start in range(0, len(acked_ids), 500):
            query = select(ARTICLE.c.id, ARTICLE.c.headline, ARTICLE.c.content_hash).where(
                ARTICLE.c.id.in_(acked_ids[start : start + 500])
            )
            found |= {i: (h, d) for i, h, d in conn.execute(query)}
        like = ARTICLE.c.headline.like(f"Loadmark {rec.run} %")
        stored = conn.execute(select(func.count()).where(like)).scalar_one()
    engine.dispose()
    missing = sum(not found.get(i, ("",))[0].startswith(rec.marker(n)) for n, i in rec.acked)
    sample = random.Random(5).sample(rec.acked, min(len(rec.acked), 1000))
    bad_hash = sum(
        parse_seed_text(corpus.text(n, rec.marker(n))).content_hash != found.get(i, ("", ""))[1]
        for n, i in sample
    )
    bad_get = _check_over_http(target, sample)
    print(
        f"writes acknowledged: {len(rec.acked):,} articles; found in the database by id and "
        f"marker: {len(rec.acked) - missing:,}; load-test articles stored in all: {stored:,} "
        f"(import requests that failed carried {len(rec.failed):,})"
    )
    print(f"sample of {len(sample):,}: content hash differs {bad_hash}, GET not matching {bad_get}")
    print(f"lost writes: {missing + bad_hash + bad_get} (target 0)")
    return missing + bad_hash + bad_get


def _check_over_http(target: Target, sample: list[tuple[int, int]]) -> int:
    with target.client() as client:

        def bad(pair: tuple[int, int]) -> bool:
            response = client.get(f"/v1/articles/{pair[1]}")
            marker = target.rec.marker(pair[0])
            return response.status_code != 200 or not response.json()["headline"].startswith(marker)

        with ThreadPoolExecutor(4) as pool:
            return sum(pool.map(bad, sample))


def run(args: argparse.Namespace, db_url: str, workdir: Path) -> int:
    corpus, rec = Corpus(), Recorder(secrets.token_hex(3))
    log, prom = args.server_log or workdir / "server.log", workdir / "prometheus"
    log.unlink(missing_ok=True)  # the server appends; summarize this run only
    prom.mkdir()
    migrate(db_url)
    headers = {} if args.no_key else {"authorization": f"Bearer {create_key(db_url)}"}
    env = {"PROMETHEUS_MULTIPROC_DIR": str(prom), "RATE_LIMIT_PER_MINUTE": "0"}
    server = Server(db_url, workers=2, log_file=log, **env)
    try:
        started = time.perf_counter()
        target = Target(server.url, headers, rec, preload(server.url, headers, corpus, args))
        preload_rate = args.preload / (time.perf_counter() - started)
        files_after_preload = sqlite_files(workdir)
        analyze_postgres(db_url)
        results = measure(args, server, corpus, target, db_url)
        report(args, rec, results, preload_rate)
        if files_after_preload:
            print(f"SQLite files after the preload: {files_after_preload}")
            print(f"SQLite files after the run:     {sqlite_files(workdir)}")
        lost = verify(db_url, corpus, target)
    finally:
        server.stop()
    errors = rec.error_count()
    print(f"errors: {errors} (target 0)")
    summarize_log(log, results["window"])
    return 1 if lost or errors else 0


def analyze_postgres(db_url: str) -> None:
    """Statistics for the planner after the bulk preload, as autovacuum would gather them."""
    if make_url(db_url).get_backend_name() != "postgresql":
        return
    engine = create_engine(db_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        autovacuum = conn.execute(text("SHOW autovacuum")).scalar_one()
        conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"postgres: ANALYZE after the preload (autovacuum is {autovacuum} on this server)")


def create_key(db_url: str) -> str:
    """A new admin API key (so requests take the authenticated path, as in production)."""
    command = [sys.executable, "-m", "app", "keys", "create", "--scope", "admin", "--name", "load"]
    env = {**os.environ, "DATABASE_URL": db_url}
    done = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def sqlite_files(workdir: Path) -> str:
    files = sorted(workdir.glob("load.db*"))
    return ", ".join(f"{f.name} {f.stat().st_size / 2**20:,.0f} MB" for f in files)


def measure(
    args: argparse.Namespace, server: Server, corpus: Corpus, target: Target, db_url: str
) -> dict:
    """Run the readers and writers for `args.duration` seconds, with a progress bar."""
    numbers = iter(range(args.preload, 10**9))  # article numbers; next() is atomic
    interval = args.writers / args.write_rate if args.write_rate else 0.0
    threads = [
        threading.Thread(
            target=writer, args=(target, corpus, numbers, interval, args.batch, i), daemon=True
        )
        for i in range(args.writers)
    ]
    readers = args.connections - args.writers
    read_interval = readers / args.read_rate if args.read_rate else 0.0
    threads += [
        threading.Thread(
            target=reader, args=(target, corpus.common_words, read_interval, 100 + i), daemon=True
        )
        for i in range(readers)
    ]
    # Warm-up: the same load, not measured, while the server settles after the preload (the
    # preload's last commit, checkpoint and page cache; the first requests of each worker).
    target.rec.measure_from = time.perf_counter() + args.warmup
    for thread in threads:
        thread.start()
    target.stop.wait(max(0.0, target.rec.measure_from - time.perf_counter()))
    histogram = server_histogram(server.url)
    load_average = os.getloadavg()[0]
    database = database_cpu(db_url)
    cpu = (cpu_seconds(server.process.pid), self_cpu(), *machine_busy())
    started, wall_start = target.rec.measure_from, time.time()
    try:
        _progress(args.duration, started, target.rec)
    finally:
        target.stop.set()
        for thread in threads:
            thread.join()
    elapsed = time.perf_counter() - started
    after = (cpu_seconds(server.process.pid), self_cpu(), *machine_busy())
    database_used = sum(t - database.get(pid, 0.0) for pid, t in database_cpu(db_url).items())
    return {
        "elapsed": elapsed,
        "window": (wall_start, time.time()),
        "load_average": (load_average, os.getloadavg()[0]),
        "histogram": (histogram, server_histogram(server.url)),
        "cpu": [b - a for a, b in zip(cpu, after, strict=True)],
        "database_cpu": database_used,
    }


def _progress(duration: float, started: float, rec: Recorder) -> None:
    bar_format = "{l_bar}{bar}| {n:.0f}/{total:.0f} s {postfix}"
    with tqdm(total=duration, desc="load", file=sys.stderr, bar_format=bar_format) as bar:
        while (elapsed := time.perf_counter() - started) < duration:
            time.sleep(min(0.5, duration - elapsed))
            bar.n = round(time.perf_counter() - started, 1)
            errors = rec.error_count()
            bar.set_postfix_str(
                f"{rec.requests() / bar.n:,.0f} req/s, {errors} errors, "
                f"{len(rec.acked):,} articles written"
            )


def report(args: argparse.Namespace, rec: Recorder, results: dict, preload_rate: float) -> None:
    elapsed = results["elapsed"]
    pacing = f"{args.write_rate:g} requests/s in all" if args.write_rate else "unpaced"
    reading = (
        f"at {args.read_rate:g} requests/s in all (open loop, latency from the planned start)"
        if args.read_rate
        else "without pause (closed loop)"
    )
    before, after = results["load_average"]
    print(
        f"machine: {os.cpu_count()} cores, shared by this client, the server and the database; "
        f"load average {before:.1f} before the run, {after:.1f} after"
    )
    print(f"preload: {args.preload:,} articles in one NDJSON stream, {preload_rate:,.0f}/s")
    print(
        f"load: {elapsed:.1f} s after {args.warmup:g} s of warm-up, {args.connections} "
        f"connections: {args.writers} importing "
        f"{args.batch} articles a request ({pacing}), "
        f"{args.connections - args.writers} reading {reading}"
    )
    auth = "none (open mode, loopback only)" if args.no_key else "a bearer API key (admin scope)"
    print(f"auth: {auth}; rate limiting off (RATE_LIMIT_PER_MINUTE=0); server: 2 workers")
    head = ("route", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors")
    print("{:32} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}".format(*head))
    for key, label in ROUTES.items():
        values = rec.latency.get(key, [])
        errors = sum(c for (route, _), c in rec.errors.items() if route == key)
        print(
            f"{label:32} {len(values):>9,} {len(values) / elapsed:>8,.1f} "
            f"{percentile(values, 0.5):>8.1f} {percentile(values, 0.99):>8.1f} "
            f"{max(values, default=0) * 1000:>8.1f} {errors:>7}"
        )
    done = sum(map(len, rec.latency.values()))
    print(f"{'all':32} {done:>9,} {done / elapsed:>8,.1f}")
    reads = [v for k in READ_MIX for v in rec.latency.get(k, [])]
    print(
        f"reads: {len(reads) / elapsed:,.0f} req/s, p50 {percentile(reads, 0.5):.1f} ms, "
        f"p99 {percentile(reads, 0.99):.1f} ms (target p99 < 100 ms)"
    )
    imports = len(rec.latency.get("import", [])) / elapsed
    planned = f" (planned {args.write_rate:g})" if args.write_rate else ""
    print(
        f"articles written: {len(rec.acked):,} ({len(rec.acked) / (elapsed + args.warmup):,.0f}/s"
        f" over the warm-up and the run, "
        f"{imports:.2f} import requests/s{planned})"
    )
    _report_server_side(*results["histogram"])
    print(f"errors by route and kind: {dict(rec.errors) or 'none'}")
    server, client, busy, total = (v / elapsed for v in results["cpu"])
    database = results["database_cpu"] / elapsed
    per_request = results["cpu"][0] / max(1, done) * 1000
    print(
        f"server CPU per request (this mix): {per_request:.1f} ms, so 2 cores would serve "
        f"~{2000 / per_request:,.0f} req/s of it with nothing else running"
    )
    print(
        f"CPU over the run, in cores: server {server:.2f}, this client {client:.2f}, "
        f"Postgres backends of the test database {database:.2f}, everything else "
        f"(other work on this machine) {max(0.0, busy - server - client - database):.2f}, "
        f"idle {total - busy:.2f}"
    )


def _report_server_side(before: dict, after: dict) -> None:
    """p99 from /metrics: Prometheus buckets summed over both workers (multiprocess mode)."""
    parts = [
        f"{route} {bucket_quantile(before.get(route, {}), after[route], 0.99)} ms"
        for route in sorted(after)
        if route.startswith(("GET /v1", "POST /v1"))
    ]
    print(f"p99 by /metrics (bucket bounds, both workers): {'; '.join(parts)}")


def summarize_log(path: Path, window: tuple[float, float]) -> None:
    """What the server logged: access lines by status, the durations it logged for requests
    answered during the load, then warnings and errors."""
    statuses: Counter[Any] = Counter()
    durations: dict[str, list[float]] = defaultdict(list)
    problems: Counter[str] = Counter()
    first_exception = None
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            problems[f"(not JSON) {line.strip()[:160]}"] += 1
            continue
        if entry.get("logger") == "app.access":
            statuses[entry.get("status")] += 1
            at = datetime.fromisoformat(entry["timestamp"]).timestamp()
            if window[0] <= at <= window[1]:
                durations[f"{entry['method']} {entry['route']}"].append(entry["duration_ms"] / 1e3)
        elif entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            problems[
                f"{entry['level']} {entry.get('logger')}: {entry.get('message', '')[:200]}"
            ] += 1
            first_exception = first_exception or entry.get("exception")
    print(f"server log: {len(lines):,} lines; access lines by status: {dict(statuses)}")
    for route, values in sorted(durations.items()):
        print(
            f"  server-side {route}: p50 {percentile(values, 0.5):.1f} ms, p99 "
            f"{percentile(values, 0.99):.1f} ms, max {max(values) * 1000:.1f} ms "
            f"({len(values):,} requests logged during the load)"
        )
    for message, count in problems.most_common(8):
        print(f"  {count:>6} x {message}")
    if first_exception:
        print("  first exception, last lines:")
        for line in first_exception.splitlines()[-6:]:
            print(f"    {line}")


def fresh_postgres(admin_url: str, settings: Sequence[str] = ()) -> tuple[Engine, str, str]:
    """Create `load_<random>` on the server of `admin_url`, with `NAME=VALUE` settings of its
    own (ALTER DATABASE ... SET); (admin engine, name, its URL)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"load_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        for setting in settings:
            key, value = setting.split("=", 1)
            if not key.replace("_", "").isalnum():
                raise SystemExit(f"not a setting name: {key!r}")
            literal = value.replace("'", "''")
            conn.execute(text(f"ALTER DATABASE \"{name}\" SET {key} = '{literal}'"))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return admin, name, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of mixed load")
    parser.add_argument(
        "--warmup", type=float, default=5, help="seconds of the same load before measuring"
    )
    parser.add_argument("--preload", type=int, default=20_000, help="articles before the run")
    parser.add_argument("--connections", type=int, default=16, help="client connections")
    parser.add_argument("--writers", type=int, default=2, help="connections that import")
    parser.add_argument(
        "--write-rate", type=float, default=1.0, help="import requests/s in all; 0: unpaced"
    )
    parser.add_argument(
        "--read-rate", type=float, default=0.0, help="read requests/s in all; 0: no pause"
    )
    parser.add_argument("--batch", default="50-100", help="articles per import, LOW-HIGH")
    parser.add_argument("--postgres-url", help="run on a fresh database on this server")
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the fresh Postgres database, e.g. random_page_cost=1.1 (repeatable)",
    )
    parser.add_argument("--server-log", type=Path, help="keep the server's JSON log here")
    parser.add_argument(
        "--no-key", action="store_true", help="no API key: the service's open (loopback) mode"
    )
    args = parser.parse_args()
    if not 0 < args.writers < args.connections:
        parser.error("--writers must be at least 1 and fewer than --connections")
    with tempfile.TemporaryDirectory(prefix="load-") as tmp:
        if not args.postgres_url:
            sys.exit(run(args, f"sqlite:///{Path(tmp) / 'load.db'}", Path(tmp)))
        admin, name, url = fresh_postgres(args.postgres_url, args.pg_setting)
        settings = f", with {', '.join(args.pg_setting)}" if args.pg_setting else ""
        print(f"database: {name} (fresh{settings}, dropped at the end)")
        try:
            code = run(args, url, Path(tmp))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        sys.exit(code)


if __name__ == "__main__":
    main()
