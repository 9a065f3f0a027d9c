"""What installing the project brings: every package pinned by the lock, and a service that
starts even when the installer drops the extras of dependencies (pip before 23.3 did).

The lock is constraints.txt (`make lock`), used by `make install`, CI and the Dockerfile; this
venv was installed from it, so its versions are the ones every other install gets.
"""

import subprocess
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions, requires, version

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from tests.conftest import ROOT
from tests.lock import pins

PROJECT = "news-archive"


def wanted(req: Requirement, extras: Iterable[str]) -> bool:
    """Whether a requirement applies here, for a distribution installed with `extras`."""
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in {"", *extras})


def closure(extras: set[str], transitive_extras: bool) -> set[NormalizedName]:
    """The distributions that installing the project with `extras` brings in. Without
    `transitive_extras`, the extras asked of a dependency by another dependency are lost."""
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    todo = [(PROJECT, frozenset(extras))]
    while todo:
        name, active = todo.pop()
        for line in requires(name) or []:
            req = Requirement(line)
            if not wanted(req, active):
                continue
            keep = frozenset(req.extras if name == PROJECT or transitive_extras else ())
            if (key := (canonicalize_name(req.name), keep)) not in seen:
                seen.add(key)
                todo.append((req.name, keep))
    return {name for name, _ in seen}


def test_the_lock_pins_every_package_an_install_brings_at_the_installed_version() -> None:
    pinned = pins()
    everything = closure({"dev"}, transitive_extras=True)
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    everything |= {canonicalize_name(Requirement(r).name) for r in build}
    everything |= {canonicalize_name("pip")}  # `make install` and the image pin pip itself
    missing = sorted(everything - pinned.keys())
    assert not missing, f"not in constraints.txt (run `make lock`): {missing}"
    stale = {
        name: (pinned[name], version(name)) for name in everything if version(name) != pinned[name]
    }
    assert not stale, f"installed version differs from the lock (run `make install`): {stale}"


# Imports the app and extracts a page with only the allowed distributions importable: the
# modules of every other installed distribution are refused.
STARTUP = """
import gzip, sys
from importlib.abc import MetaPathFinder
from pathlib import Path

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed)", name=name)

REFUSED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, Refuse())
from app.main import create_app
from app.parsing.html import extract_page

create_app()
page = gzip.decompress(next(Path(sys.argv[2]).glob("*.html.gz")).read_bytes())
print(extract_page(page, "https://news.example/story").article.headline)
"""


def test_the_service_starts_with_what_an_installer_that_drops_transitive_extras_brings() -> None:
    # justext asks for lxml's `html_clean` extra; pip before 23.3 skipped it, and the image
    # died at start ("lxml.html.clean module is now a separate project").
    allowed = closure(set(), transitive_extras=False) | {canonicalize_name(PROJECT)}
    refused = sorted(
        module
        for module, dists in packages_distributions().items()
        if not {canonicalize_name(d) for d in dists} & allowed and module.isidentifier()
    )
    assert "pytest" in refused  # the dev tools are not there: the check has teeth
    started = subprocess.run(
        [sys.executable, "-c", STARTUP, ",".join(refused), str(ROOT / "tests/data/html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    assert started.stdout.strip()  # a headline extracted
