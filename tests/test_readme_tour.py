"""The README's 60-second tour runs as printed.

The server is set up as `make run` sets it up (migrate, import seeds/, `serve`), then every
command of the tour runs in bash from the repository root, in order, with `localhost:8000`
pointed at that server; each answer documented under a command (its `#>` lines) must be
exactly what the command prints. A command with no `#>` lines must still succeed.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine

from tests.conftest import HTTP_TIMEOUT, ROOT, SEEDS, LiveServer, empty_tables

README = ROOT / "README.md"
TOUR_HEADING = "## A 60-second tour"
BASE = "localhost:8000"  # where the tour's commands send their requests
# curl options that take a value, and those that do not, as the tour uses them; another
# option fails test_the_tour_talks_only_to_the_local_server until it is added here.
CURL_VALUE_OPTIONS = {"-X", "-H", "-d", "--data-binary", "--data-urlencode", "-o", "-w", "-D"}
CURL_FLAGS = {"-s", "-S", "-i", "-N", "-G", "-si", "-sN", "-sS", "-f", "-sf"}
LOOPBACK_URL = re.compile(r"https?://(localhost|127\.0\.0\.1)[:/]")


@dataclass
class Step:
    line: int  # of the README, where the command starts
    command: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.command)


def tour() -> list[Step]:
    """The tour's commands, each with the answer documented under it."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(TOUR_HEADING)
    fence = next(i for i in range(start, len(lines)) if lines[i].startswith("```bash"))
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    steps: list[Step] = []
    closed = True  # the next command line starts a new step
    for number, line in enumerate(lines[fence + 1 : end], start=fence + 2):
        if line.startswith("#>"):
            steps[-1].expected.append(line[3:] if line.startswith("#> ") else line[2:])
            closed = True
        elif not line.strip() or line.lstrip().startswith("#"):
            closed = True
        elif closed:
            steps.append(Step(number, [line]))
            closed = False
        else:
            steps[-1].command.append(line)
    return steps


def curl_targets(command: str) -> Iterator[str]:
    """The URLs each curl in `command` requests (the arguments that are no option)."""
    lexer = shlex.shlex(command.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    for i, token in enumerate(tokens):
        if token != "curl":
            continue
        rest = iter(tokens[i + 1 :])
        for arg in rest:
            if arg in {"|", "||", "&&", ";", ")", ">", "<"}:
                break
            if arg in CURL_VALUE_OPTIONS:
                next(rest)
            elif arg.startswith("-"):
                assert arg in CURL_FLAGS, f"curl option {arg} unknown to this test: add it"
            else:
                yield arg


def test_the_tour_talks_only_to_the_local_server() -> None:
    steps = tour()
    assert len(steps) >= 10
    for step in steps:
        for target in curl_targets(step.text):
            assert target.startswith(f"{BASE}/"), f"README line {step.line}: {target}"
        # an item that is only a URL is fetched by the server: loopback only (refused)
        for url in re.findall(r'\{\s*"url"\s*:\s*"([^"]*)"\s*\}', step.text):
            assert LOOPBACK_URL.match(url), f"README line {step.line} fetches {url}"


@pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("jq") is None,
    reason="the tour uses curl and jq (apt-get install curl jq)",
)
def test_the_tour_runs_as_printed_after_make_run(db: Engine, database_url: str) -> None:
    empty_tables(db)  # ids start at 1, as in a new clone
    env = {"DATABASE_URL": database_url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run(
        [sys.executable, "-m", "app", "import", "--no-progress", str(SEEDS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
        timeout=HTTP_TIMEOUT,
    )
    server = LiveServer(database_url, serve=True)
    try:
        for step in tour():
            command = step.text.replace(BASE, f"127.0.0.1:{server.port}")
            result = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=HTTP_TIMEOUT,
            )
            where = f"README line {step.line}: {step.text}\nstderr: {result.stderr}"
            assert result.returncode == 0, where
            if step.expected:
                assert result.stdout.rstrip("\n").splitlines() == step.expected, where
    finally:
        server.stop()
