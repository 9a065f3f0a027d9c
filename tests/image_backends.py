"""The Docker image for tests/test_image.py, two ways behind one interface.

- DockerImage: `docker build` of the Dockerfile and containers of it, used when a Docker engine
  answers (`docker info`). Containers use the host's network (loopback addresses only) and one
  named volume at /srv/data; TEST_PYTHON_IMAGE, when set, replaces the base image (a local
  stand-in where the registry cannot be reached).
- ReplayImage: no engine. The Dockerfile's own steps are read from it and carried out in a
  temporary folder standing for the image: the build stage's `pip install` of the project on
  the files its COPY lines name, into a folder of its own (no editable install, no checkout on
  the path); the final stage's COPY lines fill the folder standing for the image's /; its CMD
  and HEALTHCHECK run there with its ENV. The base image, the system user and pip's downloads
  are not exercised (the dependencies are this venv's, installed from the same lock).
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tests.conftest import ROOT
from tests.dockerfile import Stage, copy_into, pip_installs, read_dockerfile

DATA_VOLUME = "/srv/data"  # where the image keeps SQLite (the compose file mounts a volume)


class ReplayServer:
    """The CMD running as a local process in the replayed image."""

    def __init__(self, image: "ReplayImage", env: dict[str, str]) -> None:
        self.image, self.env = image, env
        cmd = [sys.executable, *image.stage.cmd[1:]]
        self.process = subprocess.Popen(cmd, cwd=image.workdir, env=image.env(**env))

    def check(self, **env: str) -> int:
        """Exit status of the HEALTHCHECK command beside the server, ENV overridden by `env`."""
        assert self.process.poll() is None, "the CMD exited"
        return self.image.run(self.image.stage.healthcheck, **{**self.env, **env}).returncode

    def healthy(self) -> bool:
        return self.check() == 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=120)


@dataclass
class ReplayImage:
    root: Path  # stands for the image's /
    workdir: Path
    stage: Stage
    site: PurePosixPath  # where the build stage installed the project

    @classmethod
    def build(cls, root: Path) -> "ReplayImage":
        build, final = read_dockerfile(ROOT / "Dockerfile")
        source = copy_into(build, root / "build")
        (run,) = build.runs
        (project,) = [i for i in pip_installs(run) if i.targets == ["."]]
        site = root / "install"
        # --no-deps and no build isolation, so that it needs no network: the dependencies
        # and the build backend are this venv's, installed from the same constraints.
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
        for pins in project.constraints:
            pip += ["-c", str(source / pins)]
        subprocess.run([*pip, "--target", str(site), "."], cwd=source, check=True, timeout=300)
        return cls(root, copy_into(final, root), final, PurePosixPath(site))

    def local(self, value: str) -> str:
        """A path of the image, as a path in the folder that stands for it."""
        return value.replace("/srv", str(self.root / "srv"))

    def env(self, **overrides: str) -> dict[str, str]:
        own = {k: self.local(v) for k, v in {**self.stage.env, **overrides}.items()}
        # The dependencies come from this venv; the project itself only from the image's copy.
        return {**os.environ, **own, "PYTHONPATH": str(self.site)}

    def run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        program = sys.executable if argv[0] == "python" else argv[0]
        args = [self.local(a) if a.startswith("/srv/") else a for a in argv[1:]]
        return subprocess.run(
            [program, *args],
            cwd=self.workdir,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def exists(self, path: str) -> bool:
        return Path(self.local(path)).exists()

    def read_text(self, path: str) -> str:
        return Path(self.local(path)).read_text(encoding="utf-8")

    @contextmanager
    def serving(self, **env: str) -> Iterator[ReplayServer]:
        server = ReplayServer(self, env)
        try:
            yield server
        finally:
            server.stop()

    def close(self) -> None:
        pass


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        raise AssertionError(f"docker {' '.join(args)}: {done.returncode}\n{done.stderr[-3000:]}")
    return done


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return docker("info", timeout=30, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def env_flags(env: dict[str, str]) -> list[str]:
    return [flag for key, value in env.items() for flag in ("-e", f"{key}={value}")]


class DockerServer:
    """The image's CMD in a detached container; the engine runs its HEALTHCHECK every second."""

    def __init__(self, image: "DockerImage", env: dict[str, str]) -> None:
        self.image = image
        flags = [*image.flags, "--health-interval", "1s", *env_flags(env)]
        self.id = docker("run", "-d", *flags, image.tag).stdout.strip()

    def check(self, **env: str) -> int:
        """Exit status of the HEALTHCHECK command in the container, ENV overridden by `env`."""
        argv = ["exec", *env_flags(env), self.id, *self.image.stage.healthcheck]
        return docker(*argv, check=False).returncode

    def healthy(self) -> bool:
        """The engine's own verdict, from the HEALTHCHECK it runs."""
        state = json.loads(docker("inspect", "-f", "{{json .State}}", self.id).stdout)
        if not state["Running"]:
            logs = docker("logs", self.id, check=False)
            output = logs.stdout[-2000:] + logs.stderr[-2000:]
            raise AssertionError(f"the container exited: {output}")
        return state.get("Health", {}).get("Status") == "healthy"

    def stop(self) -> None:
        docker("stop", "-t", "35", self.id, timeout=60, check=False)
        docker("rm", "-f", self.id, check=False)


@dataclass
class DockerImage:
    tag: str
    volume: str
    stage: Stage
    site = PurePosixPath("/usr/local/lib/python3.11/site-packages")

    @classmethod
    def build(cls, name: str) -> "DockerImage":
        base = os.environ.get("TEST_PYTHON_IMAGE")
        args = ["--build-arg", f"PYTHON_IMAGE={base}"] if base else []
        docker("build", "--network", "host", *args, "-t", name, str(ROOT), timeout=1800)
        docker("volume", "create", name)
        return cls(name, name, read_dockerfile(ROOT / "Dockerfile")[-1])

    @property
    def flags(self) -> list[str]:
        return ["--network", "host", "-v", f"{self.volume}:{DATA_VOLUME}"]

    def run(self, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        return docker("run", "--rm", *self.flags, *env_flags(env), self.tag, *argv, check=False)

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path]).returncode == 0

    def read_text(self, path: str) -> str:
        return self.run(["cat", path]).stdout

    @contextmanager
    def serving(self, **env: str) -> Iterator[DockerServer]:
        server = DockerServer(self, env)
        try:
            yield server
        finally:
            server.stop()

    def close(self) -> None:
        docker("volume", "rm", "-f", self.volume, check=False)
        docker("rmi", "-f", self.tag, check=False)


def wait_healthy(server: ReplayServer | DockerServer, seconds: float = 90) -> None:
    # Generous: starting means importing the app, seconds on a loaded 2-core machine.
    deadline = time.monotonic() + seconds
    while not server.healthy():
        assert time.monotonic() < deadline, f"not healthy in {seconds:.0f} s"
        time.sleep(0.3)
