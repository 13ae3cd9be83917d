"""Test-run settings: under CI (``CI=true``) Hypothesis draws the same examples every run.

Locally, Hypothesis explores new examples each run (and remembers failures in ``.hypothesis/``); in CI
a run must be reproducible, so the ``ci`` profile derandomises it and keeps no example database.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")
