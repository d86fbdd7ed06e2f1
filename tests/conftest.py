"""Test-suite wide pytest configuration."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "differential: replays the same requests on Apache ZooKeeper and zkeeper and compares the replies",
    )
