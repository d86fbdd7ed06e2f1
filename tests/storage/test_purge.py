"""Purge keeps the newest N snapshots and the logs needed to recover from the oldest kept."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from zkeeper.storage import purge, recover_detailed
from zkeeper.storage.files import version_dir
from zkeeper.tree.datatree import DataTree

from tests.support.servers import ZK_CONF_DIR, ZK_JAR, reference_available

from .helpers import Scenario, assert_same_tree, build_mixed, persist


@pytest.fixture(scope="module")
def mixed() -> Scenario:
    sc = Scenario(keep_views=True)
    build_mixed(sc)
    return sc


def _names(base: Path) -> set[str]:
    return {p.name for p in version_dir(base).iterdir()}


def test_keeps_newest_snapshots_and_needed_logs(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path, snapshots=(0, 4, 8, 12, 16, 20))
    # Snapshots at 0,4,..,20 (hex names); logs start right after each snapshot.
    assert _names(tmp_path) == {"snapshot.0", "snapshot.4", "snapshot.8", "snapshot.c", "snapshot.10",
                                "snapshot.14", "log.1", "log.5", "log.9", "log.d", "log.11", "log.15"}
    deleted = purge(tmp_path, retain_count=3)
    # The oldest kept snapshot is 0xc; log.9 starts at or before it, so it may hold txns
    # just after the snapshot and stays; log.1 and log.5 cannot.
    assert {p.name for p in deleted} == {"snapshot.0", "snapshot.4", "snapshot.8", "log.1", "log.5"}
    assert _names(tmp_path) == {"snapshot.c", "snapshot.10", "snapshot.14", "log.9", "log.d", "log.11", "log.15"}
    assert_same_tree(recover_detailed(tmp_path).tree, mixed.tree)
    assert purge(tmp_path, retain_count=3) == []  # idempotent


def test_incomplete_snapshots_do_not_count(tmp_path: Path, mixed: Scenario) -> None:
    persist(mixed, tmp_path, snapshots=(0, 8, 16))
    torn = version_dir(tmp_path) / "snapshot.10"  # zxid 16
    torn.write_bytes(torn.read_bytes()[:50])
    deleted = purge(tmp_path, retain_count=3)
    assert deleted == []  # only two valid snapshots: nothing may go
    assert_same_tree(recover_detailed(tmp_path).tree, mixed.tree)


def test_separate_dirs_and_bad_count(tmp_path: Path, mixed: Scenario) -> None:
    data, logs = tmp_path / "data", tmp_path / "logs"
    persist(mixed, data, snapshots=(0, 5, 10, 15, 20), log_dir=logs)
    deleted = purge(data, logs, retain_count=4)
    # log.1 (txns 1..5) starts before the oldest kept snapshot (5), so ZooKeeper keeps it.
    assert {p.name for p in deleted} == {"snapshot.0"}
    with pytest.raises(ValueError, match="greater than or equal to 3"):
        purge(data, logs, retain_count=2)


@pytest.mark.skipif(not reference_available(), reason="Apache ZooKeeper is not installed")
def test_same_choice_as_zookeepers_purge_tool(tmp_path: Path, mixed: Scenario) -> None:
    """Run ZooKeeper's own PurgeTxnLog on a copy and compare what each deleted."""
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    persist(mixed, ours, snapshots=(0, 3, 7, 11, 15, 19, 23))
    shutil.copytree(ours, theirs)
    before = _names(ours)
    purge(ours, retain_count=4)
    subprocess.run(["java", "-cp", f"{ZK_CONF_DIR}:{ZK_JAR}", "org.apache.zookeeper.server.PurgeTxnLog",
                    str(theirs), str(theirs), "-n", "4"], check=True, capture_output=True, timeout=60)
    assert _names(ours) == _names(theirs) != before


def test_empty_dirs(tmp_path: Path) -> None:
    assert purge(tmp_path) == []
    from zkeeper.storage import write_snapshot
    write_snapshot(DataTree(), {}, 0, tmp_path)
    assert purge(tmp_path) == []
