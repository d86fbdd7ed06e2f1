"""Cutting the txn log back to a zxid (ZAB's TRUNC) on real files, and last_logged_zxid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zkeeper.storage import CorruptLogError, StorageError, TxnLogWriter, read_log, recover_detailed, write_snapshot
from zkeeper.storage import truncate as truncate_mod
from zkeeper.storage import txnlog as txnlog_mod
from zkeeper.storage.truncate import last_logged_zxid, truncate_log
from zkeeper.tree.datatree import DataTree

from .helpers import Scenario, build_mixed, log_paths, tree_view
from .test_txnlog import _set
from .zk_oracle import needs_zookeeper, zookeeper

ROLL_EVERY = 5  # txns per log file


@pytest.fixture(scope="module")
def mixed() -> Scenario:
    sc = Scenario(with_digests=True, keep_views=True)
    build_mixed(sc)
    return sc


def _write(sc: Scenario, base: Path, prealloc: int = 16 * 1024) -> None:
    """snapshot.0 and the scenario's txns in logs of ROLL_EVERY txns (the last one padded)."""
    write_snapshot(DataTree(), {}, 0, base)
    with TxnLogWriter(base, prealloc_size=prealloc) as w:
        for i, e in enumerate(sc.logged, 1):
            w.append(e.hdr, e.txn, e.digest)
            if i % ROLL_EVERY == 0:
                w.roll()


def _zxids(base: Path) -> list[int]:
    return [rec.zxid for path in log_paths(base) for rec, _ in read_log(path)]


def _contents(base: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (base / "version-2").iterdir()}


@pytest.mark.parametrize("cut", [1, 4, 5, 6, 12, 20, 25])
def test_cuts_after_zxid_and_keeps_the_rest(tmp_path: Path, mixed: Scenario, cut: int) -> None:
    _write(mixed, tmp_path)
    before = _contents(tmp_path)
    assert len(log_paths(tmp_path)) == 6
    truncate_log(tmp_path, cut)
    assert _zxids(tmp_path) == list(range(1, cut + 1))
    after = _contents(tmp_path)
    for name, data in after.items():
        assert before[name].startswith(data)  # earlier records are untouched, byte for byte
    holder = f"log.{(cut - 1) // ROLL_EVERY * ROLL_EVERY + 1:x}"
    assert log_paths(tmp_path)[-1].name == holder
    assert all(after[n] == before[n] for n in after if n != holder)
    assert not after[holder].endswith(b"\0")  # cut right after txn `cut`, padding and all
    # The database now is the one right after txn `cut`.
    rec = recover_detailed(tmp_path, verify_digests=True)
    view, sessions = mixed.view_at(cut)
    assert rec.last_zxid == cut == last_logged_zxid(tmp_path)
    assert tree_view(rec.tree) == view and rec.sessions == sessions
    assert rec.digest_mismatches == [] and rec.truncated == []


def test_after_the_last_txn_keeps_every_txn(tmp_path: Path, mixed: Scenario) -> None:
    _write(mixed, tmp_path)
    before = _contents(tmp_path)
    truncate_log(tmp_path, mixed.last_zxid + 100)
    after = _contents(tmp_path)
    last = log_paths(tmp_path)[-1].name
    assert after.keys() == before.keys() and before[last].startswith(after[last])
    assert all(after[n] == before[n] for n in after if n != last)
    assert _zxids(tmp_path) == list(range(1, mixed.last_zxid + 1))
    truncate_log(tmp_path, mixed.last_zxid)
    assert _contents(tmp_path) == after


def test_before_the_first_txn_removes_every_log(tmp_path: Path, mixed: Scenario) -> None:
    _write(mixed, tmp_path)
    truncate_log(tmp_path, 0)
    assert log_paths(tmp_path) == []
    assert last_logged_zxid(tmp_path) == 0
    assert tree_view(recover_detailed(tmp_path).tree) == tree_view(DataTree())
    truncate_log(tmp_path / "nothing-here", 5)  # no logs at all: nothing to do


def test_zxid_missing_from_the_log(tmp_path: Path) -> None:
    """ZooKeeper would keep the first record after a zxid the log does not hold; we keep none."""
    with TxnLogWriter(tmp_path, prealloc_size=0) as w:
        for zxid in (1, 2, 3, 7, 8):
            w.append(*_set(zxid))
        w.roll()
        for zxid in (10, 11):
            w.append(*_set(zxid))
    truncate_log(tmp_path, 5)
    assert _zxids(tmp_path) == [1, 2, 3]
    assert [p.name for p in log_paths(tmp_path)] == ["log.1"]


def test_separate_log_dir_and_sessions(tmp_path: Path, mixed: Scenario) -> None:
    data, logs = tmp_path / "data", tmp_path / "logs"
    write_snapshot(DataTree(), {}, 0, data)
    with TxnLogWriter(logs) as w:
        for e in mixed.logged:
            w.append(e.hdr, e.txn, e.digest)
    truncate_log(logs, 9, data_dir=data)
    rec = recover_detailed(data, logs)
    assert rec.last_zxid == 9 == last_logged_zxid(data, logs)
    assert rec.sessions == mixed.view_at(9)[1]


def test_is_durable(tmp_path: Path, mixed: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(mixed, tmp_path)
    synced: list[str] = []
    real_file, real_dir = txnlog_mod.fsync_file, truncate_mod.fsync_dir

    def fsync_file(fd: int) -> None:
        synced.append("file")
        real_file(fd)

    def fsync_dir(d: Path) -> None:
        synced.append("dir")
        real_dir(d)

    monkeypatch.setattr(txnlog_mod, "fsync_file", fsync_file)
    monkeypatch.setattr(truncate_mod, "fsync_dir", fsync_dir)
    truncate_log(tmp_path, 7)
    assert synced == ["dir", "file"]  # the removals, then the cut file


def test_a_crash_part_way_leaves_a_prefix(tmp_path: Path, mixed: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(mixed, tmp_path)
    removed: list[str] = []
    real_unlink = Path.unlink

    def crashing_unlink(self: Path, missing_ok: bool = False) -> None:
        if len(removed) == 2:
            raise KeyboardInterrupt("power cut")
        removed.append(self.name)
        real_unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", crashing_unlink)
    with pytest.raises(KeyboardInterrupt):
        truncate_log(tmp_path, 3)
    monkeypatch.undo()
    assert removed == ["log.1a", "log.15"]  # newest first
    assert _zxids(tmp_path) == list(range(1, 21))  # still a prefix of the history
    truncate_log(tmp_path, 3)  # and the TRUNC can simply be done again
    assert _zxids(tmp_path) == [1, 2, 3]


def test_torn_tail_in_the_cut_file_goes_too(tmp_path: Path) -> None:
    with TxnLogWriter(tmp_path, prealloc_size=4096) as w:
        for zxid in range(1, 6):
            w.append(*_set(zxid))
    log = log_paths(tmp_path)[0]
    records = [rec for rec, _ in read_log(log)]
    with open(log, "r+b") as f:  # half a record where the zero padding was
        f.seek(records[-1].end)
        f.write(records[0].entry[:40])
    truncate_log(tmp_path, 9)
    assert log.stat().st_size == records[-1].end and _zxids(tmp_path) == [1, 2, 3, 4, 5]


def test_damage_before_valid_records_changes_nothing(tmp_path: Path) -> None:
    with TxnLogWriter(tmp_path, prealloc_size=0) as w:
        for zxid in range(1, 6):
            w.append(*_set(zxid))
        w.roll()
        w.append(*_set(6))
    first = log_paths(tmp_path)[0]
    records = [rec for rec, _ in read_log(first)]
    with open(first, "r+b") as f:
        f.seek(records[1].offset + 20)
        f.write(b"\xff\xff")  # record 2's checksum no longer matches; 3..5 stay valid
    before = _contents(tmp_path)
    with pytest.raises(CorruptLogError) as err:
        truncate_log(tmp_path, 4)
    assert err.value.path == first and err.value.offset == records[1].offset
    assert _contents(tmp_path) == before


def test_refuses_when_a_snapshot_holds_later_txns(tmp_path: Path, mixed: Scenario) -> None:
    _write(mixed, tmp_path)
    write_snapshot(*mixed.state_at(10), 10, tmp_path)
    before = _contents(tmp_path)
    with pytest.raises(StorageError, match="snapshot.a"):
        truncate_log(tmp_path, 8, data_dir=tmp_path)
    assert _contents(tmp_path) == before
    truncate_log(tmp_path, 12, data_dir=tmp_path)
    assert _zxids(tmp_path) == list(range(1, 13))


# ---- last_logged_zxid ---------------------------------------------------------------------


def test_last_logged_zxid(tmp_path: Path, mixed: Scenario) -> None:
    assert last_logged_zxid(tmp_path) == 0
    _write(mixed, tmp_path)
    assert last_logged_zxid(tmp_path) == mixed.last_zxid == recover_detailed(tmp_path).last_zxid
    # A newest log without a header (a crash right after creating it) is passed over.
    blank = tmp_path / "version-2" / f"log.{mixed.last_zxid + 1:x}"
    blank.write_bytes(bytes(100))
    assert last_logged_zxid(tmp_path) == mixed.last_zxid
    # A snapshot newer than every log (the logs before it purged) counts by its name;
    # an incomplete one does not.
    for p in log_paths(tmp_path):
        p.unlink()
    assert last_logged_zxid(tmp_path) == 0
    write_snapshot(*mixed.state_at(12), 12, tmp_path)
    (tmp_path / "version-2" / "snapshot.20").write_bytes(b"ZKSN cut short")
    assert last_logged_zxid(tmp_path) == 12


# ---- Apache ZooKeeper on the same files ---------------------------------------------------


@needs_zookeeper
@pytest.mark.parametrize("cut", [3, 10, 11, 24])
def test_same_files_as_zookeepers_truncate(tmp_path: Path, mixed: Scenario, cut: int) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    _write(mixed, ours)
    shutil.copytree(ours, theirs)
    truncate_log(ours, cut)
    assert zookeeper("truncate", theirs, hex(cut)) == ["true"]
    assert _contents(ours) == _contents(theirs)
    # ZooKeeper's own log iterator reads exactly the kept txns from our files.
    assert zookeeper("zxids", ours) == [f"{z:x}" for z in range(1, cut + 1)] + [f"last {cut:x}"]


@needs_zookeeper
def test_where_zookeeper_differs(tmp_path: Path) -> None:
    """ZooKeeper keeps the first record after a missing zxid, and fails when nothing follows."""
    with TxnLogWriter(tmp_path, prealloc_size=0) as w:
        for zxid in (1, 2, 3, 7, 8):
            w.append(*_set(zxid))
    shutil.copytree(tmp_path, tmp_path / "copy")
    assert zookeeper("truncate", tmp_path / "copy", "5") == ["true"]
    assert _zxids(tmp_path / "copy") == [1, 2, 3, 7]
    assert zookeeper("truncate", tmp_path / "copy", "9") == ["false"]
    truncate_log(tmp_path, 5)
    assert zookeeper("zxids", tmp_path) == ["1", "2", "3", "last 3"]
