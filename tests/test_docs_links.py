"""The README and docs/ lead only to what the repository holds, and nothing in it points
outside: a reader of a fresh clone can follow every link and run every command."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
# Split so that this file does not name them itself.
OUTSIDE = ("../" + "shared", "/work/" + "shared")


def prose(path: Path) -> str:
    """The Markdown text without code blocks and code spans (no links there)."""
    return CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", CODE.sub(lambda m: m.group(0)[1:-1], heading).lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", FENCE.sub("", path.read_text(encoding="utf-8")), re.M)
    return {slug(h.strip()) for h in headings}


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(path))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_of_the_repository(doc: Path) -> None:
    links = relative_links(doc)
    for target in links:
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        assert dest.is_relative_to(ROOT), f"{doc.name}: {target} leaves the repository"
        assert dest.exists(), f"{doc.name}: {target} leads nowhere"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{doc.name}: {target}: no such heading"


def test_the_readme_links_every_document_in_docs() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    for doc in DOCS[1:]:
        assert doc.resolve() in linked, f"README.md does not link {doc.relative_to(ROOT)}"


def test_the_readme_runs_commands_from_the_venv() -> None:
    """A bare `python -m app` runs the system interpreter, which lacks the dependencies."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        assert not re.match(r"\s*(python3?|news-archive)\s", line), line


def repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def test_nothing_in_the_repository_points_outside_it() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: no list of the repository's files")
    offenders = [
        str(path.relative_to(ROOT))
        for path in repository_files()
        if path.is_file() and any(word.encode() in path.read_bytes() for word in OUTSIDE)
    ]
    assert offenders == []
