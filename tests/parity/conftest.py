"""The parity suite builds each project once per session (both tools, twice each) and shares
the result between its checks; the terminal summary prints the parity table."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Pair, build_pair
from .table import render

_pairs: dict[str, Pair] = {}


@pytest.fixture
def pair(request, tmp_path_factory) -> Pair:
    """The built pair of the test's project (built on first use)."""
    name = request.param
    if name not in _pairs:
        _pairs[name] = build_pair(name, Path(tmp_path_factory.mktemp(f"parity-{name}")))
    return _pairs[name]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if _pairs:
        terminalreporter.write_sep("=", "parity table (tests/parity)")
        for line in render(list(_pairs.values())).splitlines():
            terminalreporter.write_line(line)
