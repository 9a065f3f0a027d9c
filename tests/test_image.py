"""The Docker image: built and run for real when a Docker engine answers (`docker info`),
otherwise replayed from the Dockerfile without one (tests/image_backends.py says how).

What this catches: a file the image needs but does not copy (alembic.ini, the migrations, the
offline /docs assets inside the installed package, the health check), a CMD that does not
start, a HEALTHCHECK that does not check, or checks an address the service does not listen on,
and a build that does not install the pinned versions.
"""

import re
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import PurePosixPath

import httpx
import pytest
from packaging.utils import canonicalize_name

from tests.conftest import HTTP_TIMEOUT, ROOT, free_port
from tests.dockerfile import pip_installs, read_dockerfile
from tests.image_backends import (
    DockerImage,
    DockerServer,
    ReplayImage,
    ReplayServer,
    docker_answers,
    wait_healthy,
)
from tests.lock import pins

Image = ReplayImage | DockerImage
SEED = "/srv/seeds/000_6bc365aecf700d82.txt"


@cache
def real_docker() -> bool:
    return docker_answers()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    if real_docker():
        built: Image = DockerImage.build(f"news-archive-test-{secrets.token_hex(4)}")
    else:
        built = ReplayImage.build(tmp_path_factory.mktemp("image"))
    try:
        yield built
    finally:
        built.close()


def test_the_build_installs_only_pinned_versions() -> None:
    build = read_dockerfile(ROOT / "Dockerfile")[0]
    copied = {source for sources, _ in build.copies for source in sources}
    (run,) = build.runs
    installs = pip_installs(run)
    assert ["."] in [i.targets for i in installs]  # the project itself
    for install in installs:
        assert install.constraints, f"unpinned: pip install {' '.join(install.targets)}"
        for lock in [*install.constraints, *install.build_constraints]:
            assert lock in copied, f"{lock}: not copied into the build stage"
            assert (ROOT / lock).is_file(), lock
        if install.targets == ["."]:
            assert install.build_constraints, "the build backend is not pinned"
            continue
        # Anything else it installs (pip itself) is pinned at the version this venv runs.
        locked = pins(ROOT / install.constraints[0])
        for name in install.targets:
            assert locked.get(canonicalize_name(name)) == version(name), name


def test_the_image_runs_its_own_copy_of_the_project(image: Image) -> None:
    where = image.run(["python", "-c", "import app; print(app.__file__)"])
    assert where.returncode == 0, where.stderr
    assert PurePosixPath(where.stdout.strip()).is_relative_to(image.site)


def test_cmd_migrates_then_refuses_all_interfaces_without_a_key(image: Image) -> None:
    assert image.stage.env["HOST"] == "0.0.0.0"
    database = "/srv/data/refused.db"  # a database of its own: no key was ever made there
    refused = image.run(image.stage.cmd, DATABASE_URL=f"sqlite:///{database}")
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0: no active API key exists" in refused.stderr
    assert image.exists(database)  # migrated before refusing


@dataclass
class Served:
    url: str
    key: str
    server: ReplayServer | DockerServer


@pytest.fixture(scope="module")
def served(image: Image) -> Iterator[Served]:
    """The CMD serving on 127.0.0.2, a specific address (loopback, as every test here), with
    a first key made as docker-compose.yml says; healthy by its own HEALTHCHECK."""
    migrated = image.run(["python", "-m", "app", "migrate"])
    assert migrated.returncode == 0, migrated.stderr
    made = image.run(
        [
            "python",
            "-m",
            "app",
            "keys",
            "create",
            "--scope",
            "admin",
            "--name",
            f"ops-{secrets.token_hex(3)}",
        ]
    )
    assert made.returncode == 0, made.stderr
    port = str(free_port())
    with image.serving(HOST="127.0.0.2", PORT=port) as server:
        wait_healthy(server)
        yield Served(f"http://127.0.0.2:{port}", made.stdout.strip(), server)


def test_cmd_serves_what_the_image_copied(served: Served, image: Image) -> None:
    seed = image.read_text(SEED)
    headers = {"Authorization": f"Bearer {served.key}"}
    created = httpx.post(
        f"{served.url}/v1/articles", json={"text": seed}, headers=headers, timeout=HTTP_TIMEOUT
    )
    assert created.status_code == 201, created.text
    read = httpx.get(
        f"{served.url}{created.headers['location']}", headers=headers, timeout=HTTP_TIMEOUT
    )
    assert read.json()["headline"] == created.json()["headline"]
    docs = httpx.get(f"{served.url}/docs", timeout=HTTP_TIMEOUT)
    assert docs.status_code == 200
    assets = re.findall(r'"(/static/docs/[^"]+)"', docs.text)
    assert assets
    for asset in assets:
        assert httpx.get(f"{served.url}{asset}", timeout=HTTP_TIMEOUT).status_code == 200, asset


def test_the_healthcheck_asks_the_address_the_service_listens_on(served: Served) -> None:
    assert served.server.check() == 0  # HOST=127.0.0.2, as the service
    assert served.server.check(HOST="127.0.0.1") != 0  # nothing listens there


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(("listen", "wildcard"), [("127.0.0.1", "0.0.0.0"), ("::1", "::")])
def test_the_healthcheck_asks_loopback_for_a_wildcard_host(
    image: Image, listen: str, wildcard: str
) -> None:
    # The service listens on every interface for HOST=0.0.0.0 (or ::); the tests listen on
    # loopback only, and the check must find it there.
    if ":" in listen and not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    port = str(free_port())
    with image.serving(HOST=listen, PORT=port) as server:
        wait_healthy(server)
        assert server.check(HOST=wildcard) == 0


def test_the_healthcheck_fails_when_nothing_answers(image: Image) -> None:
    check = image.run(image.stage.healthcheck, PORT=str(free_port()))
    assert check.returncode != 0


@pytest.mark.skipif(
    not real_docker(), reason="no Docker engine answers (`docker info`): the replay ran instead"
)
def test_the_real_container_runs_unprivileged_and_the_engine_finds_it_healthy(
    image: Image, served: Served
) -> None:
    assert image.run(["id", "-u"]).stdout.strip() == "10001"
    assert isinstance(served.server, DockerServer)
    assert served.server.healthy()
