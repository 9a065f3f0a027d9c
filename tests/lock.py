"""constraints.txt, the lock that `make install`, CI and the Dockerfile install from."""

from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from tests.conftest import ROOT


def pins(path: Path = ROOT / "constraints.txt") -> dict[NormalizedName, str]:
    """The lock as {name: version}, for the lines whose marker holds on this machine."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        assert not req.extras, f"a constraints file cannot carry extras: {line}"
        if req.marker is None or req.marker.evaluate():
            (spec,) = req.specifier
            assert spec.operator == "==", f"not a pin: {line}"
            found[canonicalize_name(req.name)] = spec.version
    return found
