"""The baselines and the cgroup interface share one page size and one set of host-file paths
(``zswap_gym.cgroup.paths``): no module names its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted(p for p in [*REPO.glob("agents/*.py"), *REPO.glob("zswap_gym/cgroup/*.py")] if p.name != "paths.py")


def code_constants(path: Path) -> list[ast.Constant]:
    """The literals of a module's code (docstrings left out: they may name the files they describe)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docstrings]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_module_spells_out_a_page_size_or_a_host_file_path(path):
    for node in code_constants(path):
        assert node.value != 4096, f"{path.name}:{node.lineno}: use zswap_gym.cgroup.PAGE_SIZE"
        if isinstance(node.value, str):
            assert not node.value.startswith(("/proc/", "/sys/")), (
                f"{path.name}:{node.lineno}: {node.value!r}: use the paths of zswap_gym.cgroup.paths"
            )
