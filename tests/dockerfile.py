"""The Dockerfile as the image tests read it: stages, their COPY lines carried out into a
folder, and the `pip install` commands of the build stage."""

import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT


@dataclass
class Stage:
    workdir: str = "/"
    copies: list[tuple[list[str], str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)


def command(text: str) -> list[str]:
    """An exec-form (JSON) or shell-form command line."""
    text = text.strip()
    return json.loads(text) if text.startswith("[") else ["/bin/sh", "-c", text]


def read_dockerfile(path: Path) -> list[Stage]:
    """The stages of a Dockerfile, with the instructions the tests replay or read."""
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
        elif not stages:  # ARG before the first FROM: only the FROM lines use it
            continue
        elif word == "WORKDIR":
            stages[-1].workdir = rest.strip()
        elif word == "COPY" and "--from=" not in rest:
            *sources, target = [a for a in rest.split() if not a.startswith("--")]
            stages[-1].copies.append((sources, target))
        elif word == "RUN":
            stages[-1].runs.append(rest)
        elif word == "ENV":
            stages[-1].env.update(pair.split("=", 1) for pair in shlex.split(rest))
        elif word == "CMD":
            stages[-1].cmd = command(rest)
        elif word == "HEALTHCHECK":
            stages[-1].healthcheck = command(rest.split(" CMD ", 1)[1])
    return stages


@dataclass
class PipInstall:
    """One `pip install` of a RUN line: what it installs and the files that pin it."""

    targets: list[str]
    constraints: list[str]
    build_constraints: list[str]


def pip_installs(run: str) -> list[PipInstall]:
    """The `pip install` commands of a RUN line (joined by &&); anything else fails."""
    installs = []
    for part in run.split("&&"):
        argv = shlex.split(part)
        assert argv[:2] == ["pip", "install"], f"not a pip install: {part}"
        found = PipInstall([], [], [])
        args = iter(argv[2:])
        for arg in args:
            name, _, value = arg.partition("=")
            if name in ("-c", "--constraint"):
                found.constraints.append(value or next(args))
            elif name == "--build-constraint":
                found.build_constraints.append(value or next(args))
            elif name == "--prefix":
                value or next(args)
            elif not arg.startswith("-"):
                found.targets.append(arg)
        installs.append(found)
    return installs


def copy_into(stage: Stage, root: Path) -> Path:
    """Carry out the stage's COPY lines from the checkout into `root`; returns its WORKDIR."""
    workdir = root / stage.workdir.lstrip("/")
    workdir.mkdir(parents=True, exist_ok=True)
    for sources, target in stage.copies:
        into_folder = target.endswith("/") or len(sources) > 1 or (ROOT / sources[0]).is_dir()
        destination = root / target.lstrip("/") if target.startswith("/") else workdir / target
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                file = destination / origin.name if into_folder else destination
                file.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, file)
    return workdir
