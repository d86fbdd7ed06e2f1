"""Golden traces of Fast Leader Election (see trace.py for the script language)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from .trace import TRACES, run_trace


@pytest.mark.parametrize("path", sorted(TRACES.glob("*.txt")), ids=lambda p: p.stem)
def test_trace(path: Path) -> None:
    expected, actual = run_trace(path)
    if expected != actual:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            "expected", "actual"))
        pytest.fail(f"{path.name} differs (ZKEEPER_UPDATE_GOLDEN=1 rewrites it):\n{diff}")
