"""The documents the code cites are in the repository, and what they name exists.

* Every ``docs/``, ``zswap_gym/``, ``tests/``, ``agents/`` or ``benchmarks/`` file path (``.md`` or
  ``.py``) named in README.md or docs/*.md is a file of the repository, and every relative link in
  docs/*.md resolves.
* Every module in the "module" column of docs/model.md's table of mechanisms is a file under
  ``zswap_gym/sim/``. The table names the simulator split by mechanism (issue 10, point 2): a
  checkout without that split fails here, one test per missing module, until it has it.
* No file of the repository cites the design and facts documents kept outside it; docs/model.md and
  docs/calibration.md replace them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "docs" / "model.md"
NAMING_DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH_IN_TEXT = re.compile(r"(?<![\w./-])((?:docs|zswap_gym|tests|agents|benchmarks)/[\w./-]*\w\.(?:md|py))\b")
RELATIVE_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
MODULE_IN_CELL = re.compile(r"`(\w+\.py)`")
OUTSIDE_DOCUMENTS = ("DESIGN" + ".md", "FACTS" + ".md")
"""The documents that lived outside the repository (spelled in two parts so this file names neither)."""


def named_paths() -> list[tuple[str, str]]:
    """(document, path) for every repository path named in README.md and docs/*.md."""
    found = set()
    for doc in NAMING_DOCUMENTS:
        for path in PATH_IN_TEXT.findall(doc.read_text(encoding="utf-8")):
            found.add((doc.relative_to(ROOT).as_posix(), path))
    return sorted(found)


def relative_links() -> list[tuple[str, str]]:
    """(document, target) for every relative Markdown link in docs/*.md."""
    found = set()
    for doc in NAMING_DOCUMENTS[1:]:
        for target in RELATIVE_LINK.findall(doc.read_text(encoding="utf-8")):
            if "://" not in target and not target.startswith("mailto:"):
                found.add((doc.relative_to(ROOT).as_posix(), target))
    return sorted(found)


def model_table_modules() -> list[str]:
    """The modules named in the "module" column of docs/model.md's first table that has one."""
    column = None
    modules: list[str] = []
    for line in MODEL.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            if column is not None:
                break  # the end of the table
            continue
        if column is None:
            if "module" in cells:
                column = cells.index("module")
            continue
        if set(cells[0]) <= set("-: "):
            continue  # the header's separator row
        for name in MODULE_IN_CELL.findall(cells[column]):
            if name not in modules:
                modules.append(name)
    return modules


def repository_files() -> list[Path]:
    """The repository's tracked files (``git ls-files``); without git, every file outside hidden
    directories and caches."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        skipped = {"__pycache__", "build", "dist", "results"}
        return [
            p
            for p in ROOT.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") or part in skipped for part in p.relative_to(ROOT).parts[:-1])
        ]
    return [ROOT / name for name in listing.decode().split("\0") if name and (ROOT / name).is_file()]


def test_the_model_table_names_the_mechanism_modules():
    """docs/model.md's table of mechanisms has a "module" column naming at least ten modules."""
    assert len(model_table_modules()) >= 10, model_table_modules()


@pytest.mark.parametrize("module", model_table_modules())
def test_every_module_of_the_model_table_exists(module):
    """A module named in docs/model.md's table is a file under zswap_gym/sim/."""
    assert (ROOT / "zswap_gym" / "sim" / module).is_file(), f"docs/model.md names zswap_gym/sim/{module}"


@pytest.mark.parametrize(("document", "path"), named_paths())
def test_every_path_named_in_the_docs_exists(document, path):
    """A docs/, zswap_gym/, tests/, agents/ or benchmarks/ path named in README.md or docs/ exists."""
    assert (ROOT / path).is_file(), f"{document} names {path}"


@pytest.mark.parametrize(("document", "target"), relative_links())
def test_every_relative_link_in_the_docs_resolves(document, target):
    """A relative Markdown link in docs/*.md points at a file of the repository."""
    assert ((ROOT / document).parent / target).is_file(), f"{document} links {target}"


def test_the_readme_links_both_documents():
    """README.md links docs/model.md and docs/calibration.md."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in ("docs/model.md", "docs/calibration.md"):
        assert f"]({doc})" in readme, f"README.md does not link {doc}"


def test_no_file_cites_the_documents_kept_outside_the_repository():
    """No tracked file cites the design or facts documents that lived outside the repository."""
    citing = []
    for path in repository_files():
        data = path.read_bytes()
        if b"\0" in data:
            continue  # binary
        text = data.decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if any(name in line for name in OUTSIDE_DOCUMENTS):
                citing.append(f"{path.relative_to(ROOT).as_posix()}:{number}: {line.strip()}")
    assert not citing, "\n".join(citing)
