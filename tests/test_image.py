"""The Docker image, replayed without Docker (no engine runs on these machines): the Dockerfile's
own steps are read from it and carried out in a temporary folder standing for the image.

The build stage's `pip install` runs on the files its COPY lines name, into a folder of its own
(no editable install, no source checkout on the path); the final stage's COPY lines fill a
folder standing for WORKDIR; then its CMD runs there with its ENV, and its HEALTHCHECK command
must pass. What this catches: a file the image needs but does not copy (alembic.ini, the
migrations, the offline /docs assets inside the installed package), a CMD that does not start,
a health check that does not check. The base image itself, the system user and the real
`docker build` are not exercised.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import HTTP_TIMEOUT, ROOT, free_port


@dataclass
class Stage:
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)


def read_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, with the instructions this test replays."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())  # join continued lines
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages.append(Stage())
        elif word == "WORKDIR":
            stages[-1].workdir = rest.strip()
        elif word == "COPY" and not rest.startswith("--from"):
            *sources, target = rest.split()
            stages[-1].copies.append((sources, target))
        elif word == "RUN":
            stages[-1].runs.append(rest)
        elif word == "ENV":
            stages[-1].env.update(pair.split("=", 1) for pair in shlex.split(rest))
        elif word == "CMD":
            stages[-1].cmd = json.loads(rest)
        elif word == "HEALTHCHECK":
            stages[-1].healthcheck = shlex.split(rest.split(" CMD ", 1)[1])
    return stages


def copy_into(stage: Stage, root: Path) -> Path:
    """Carry out the stage's COPY lines from the checkout into `root`; returns its WORKDIR."""
    workdir = root / stage.workdir.lstrip("/")
    workdir.mkdir(parents=True, exist_ok=True)
    for sources, target in stage.copies:
        destination = workdir / target
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, destination / origin.name)
    return workdir


@dataclass
class Image:
    root: Path  # stands for the image's /
    workdir: Path
    stage: Stage
    site: Path  # the build stage's installed package

    def env(self, **overrides: str) -> dict[str, str]:
        own = {k: v.replace("/srv", str(self.root / "srv")) for k, v in self.stage.env.items()}
        # The dependencies come from this venv; the project itself only from the image's copy.
        return {**os.environ, **own, "PYTHONPATH": str(self.site), **overrides}

    def run(self, command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable if command[0] == "python" else command[0], *command[1:]]
        return subprocess.run(
            command,
            cwd=self.workdir,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    build, final = read_dockerfile(ROOT / "Dockerfile")
    root = tmp_path_factory.mktemp("image")
    source = copy_into(build, root / "build")
    (install,) = build.runs
    assert re.fullmatch(r"pip install .* \.", install), install
    site = root / "install"
    # The build stage's pip install, into a folder of its own; --no-deps and no build
    # isolation so that it needs no network (the dependencies are this venv's).
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*pip, "--target", str(site), "."],
        cwd=source,
        check=True,
        timeout=300,
    )
    return Image(root=root, workdir=copy_into(final, root), stage=final, site=site)


def test_the_image_runs_its_own_copy_of_the_project(image: Image) -> None:
    where = image.run(["python", "-c", "import app; print(app.__file__)"])
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(image.site)


def test_cmd_migrates_then_refuses_all_interfaces_without_a_key(image: Image) -> None:
    assert image.stage.env["HOST"] == "0.0.0.0"
    database = image.root / "srv" / "data" / "news.db"
    refused = image.run(image.stage.cmd)
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0: no active API key exists" in refused.stderr
    assert database.exists()  # migrated before refusing


@pytest.fixture
def served(image: Image) -> Iterator[tuple[str, str]]:
    """The CMD serving (its URL and a key), the first key made as docker-compose.yml says."""
    made = image.run(["python", "-m", "app", "keys", "create", "--scope", "admin", "--name", "a"])
    assert made.returncode == 0, made.stderr
    port = str(free_port())
    # The image listens on 0.0.0.0; tests listen on loopback only, so HOST is overridden.
    env = image.env(HOST="127.0.0.1", PORT=port)
    process = subprocess.Popen([sys.executable, *image.stage.cmd[1:]], cwd=image.workdir, env=env)
    try:
        deadline = time.monotonic() + HTTP_TIMEOUT  # a bound on a hang, not a speed target
        while image.run(image.stage.healthcheck, PORT=port).returncode:
            assert process.poll() is None, "the CMD exited"
            assert time.monotonic() < deadline, f"the health check did not pass in {HTTP_TIMEOUT} s"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", made.stdout.strip()
    finally:
        process.terminate()
        process.wait(timeout=HTTP_TIMEOUT)


def test_cmd_serves_what_the_image_copied(served: tuple[str, str], image: Image) -> None:
    url, key = served  # the HEALTHCHECK command passed, or the fixture failed
    seed = (image.workdir / "seeds" / "000_6bc365aecf700d82.txt").read_text(encoding="utf-8")
    headers = {"Authorization": f"Bearer {key}"}
    created = httpx.post(
        f"{url}/v1/articles", json={"text": seed}, headers=headers, timeout=HTTP_TIMEOUT
    )
    assert created.status_code == 201, created.text
    read = httpx.get(f"{url}{created.headers['location']}", headers=headers, timeout=HTTP_TIMEOUT)
    assert read.json()["headline"] == created.json()["headline"]
    docs = httpx.get(f"{url}/docs", timeout=HTTP_TIMEOUT)
    assert docs.status_code == 200
    assets = re.findall(r'"(/static/docs/[^"]+)"', docs.text)
    assert assets
    for asset in assets:
        assert httpx.get(f"{url}{asset}", timeout=HTTP_TIMEOUT).status_code == 200, asset


def test_the_healthcheck_fails_when_nothing_answers(image: Image) -> None:
    check = image.run(image.stage.healthcheck, PORT=str(free_port()))
    assert check.returncode != 0
