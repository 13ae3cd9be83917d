"""The README's Python snippets run as written (issue 11, point 15), so its code cannot rot.

Every ```` ```python ```` block of README.md runs here, except a block right after a
``<!-- readme-test: slow -->`` comment: that one trains PPO, and runs in a slow test with its
``total_timesteps`` cut to one rollout.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zswap_gym

README = Path(__file__).resolve().parents[1] / "README.md"
SLOW_MARKER = "<!-- readme-test: slow -->"
_FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[tuple[int, str, bool]]:
    """Each python block of the README: (line of its fence, code, marked slow)."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        slow = bool(before) and before[-1].strip() == SLOW_MARKER
        blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1), slow))
    return blocks


BLOCKS = python_blocks()
FAST = [(line, code) for line, code, slow in BLOCKS if not slow]
SLOW = [(line, code) for line, code, slow in BLOCKS if slow]


def test_the_readme_has_its_python_snippets_and_only_the_training_one_is_slow():
    assert len(FAST) >= 2, FAST
    assert len(SLOW) == 1 and "model.learn(" in SLOW[0][1], SLOW


@pytest.mark.parametrize(("line", "code"), FAST, ids=[f"README.md:{line}" for line, _ in FAST])
def test_readme_python_snippet_runs(line, code):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})


@pytest.mark.slow
@pytest.mark.parametrize(("line", "code"), SLOW, ids=[f"README.md:{line}" for line, _ in SLOW])
def test_readme_training_snippet_runs_for_one_rollout(tmp_path, line, code):
    """As written but for ``total_timesteps``, as a script (its ``workers=2`` spawns a process,
    which imports the main module from its file)."""
    short, n = re.subn(r"total_timesteps=[\d_]+", "total_timesteps=1", code)
    assert n == 1, "the snippet's total_timesteps=... was not found"
    script = tmp_path / "readme_training.py"
    script.write_text(short, encoding="utf-8")
    root = Path(zswap_gym.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stderr[-3000:]}"
