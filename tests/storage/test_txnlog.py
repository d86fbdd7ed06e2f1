"""The txn log writer and reader on real files: group commit, fsync, padding, rolling,
and what a full disk leaves behind."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from zkeeper.jute import SetDataTxn, TxnHeader
from zkeeper.storage import DiskFullError, LogReader, LogWriteError, StorageError, TxnLogWriter, read_log
from zkeeper.storage import txnlog as txnlog_mod
from zkeeper.storage.files import version_dir
from zkeeper.storage.format import FileHeader, Scan
from zkeeper.types import OpCode

from .helpers import Scenario, build_mixed

PREALLOC = 16 * 1024


def _set(zxid: int, size: int = 100) -> tuple[TxnHeader, SetDataTxn]:
    return TxnHeader(0x55, zxid, zxid, 1_700_000_000_000 + zxid, OpCode.SET_DATA), \
        SetDataTxn("/n", bytes([zxid % 256]) * size, zxid)


def _zxids(path: Path) -> list[int]:
    return [rec.zxid for rec, _ in read_log(path)]


def _logs(base: Path) -> list[Path]:
    return sorted(version_dir(base).glob("log.*"), key=lambda p: int(p.name[4:], 16))


def test_round_trip_with_padding(tmp_path: Path) -> None:
    sc = Scenario(with_digests=True)
    build_mixed(sc)
    with TxnLogWriter(tmp_path, prealloc_size=PREALLOC) as w:
        for e in sc.logged:
            w.append(e.hdr, e.txn, e.digest)
        w.flush_and_sync()
        assert w.last_synced_zxid == sc.last_zxid
    (path,) = _logs(tmp_path)
    assert path.name == "log.1"
    back = [(rec.zxid, entry.hdr, entry.txn, entry.digest) for rec, entry in read_log(path)]
    assert back == [(e.hdr.zxid, e.hdr, e.txn, e.digest) for e in sc.logged]
    size = path.stat().st_size
    assert size % PREALLOC == 0 and size > 100_000  # /big is 100 KB: several blocks
    with LogReader(path) as r:
        assert r.header == FileHeader(0x5A4B4C47, 2, 0)
        list(r.records())
        assert r.stop.status is Scan.END and r.last_nonzero(r.stop.offset) == r.stop.offset


def test_one_fsync_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = txnlog_mod.fsync_file  # type: ignore[attr-defined]

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(txnlog_mod, "fsync_file", counting)
    w = TxnLogWriter(tmp_path, prealloc_size=PREALLOC)
    for z in range(1, 101):
        w.append(*_set(z))
    w.flush_and_sync()
    w.flush_and_sync()  # nothing new: no second fsync
    assert len(calls) == 1
    for z in range(101, 111):
        w.append(*_set(z))
    w.flush_and_sync()
    assert len(calls) == 2
    w.close()
    assert _zxids(_logs(tmp_path)[0]) == list(range(1, 111))


def test_force_sync_no_skips_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(txnlog_mod, "fsync_file", calls.append)
    with TxnLogWriter(tmp_path, prealloc_size=PREALLOC, force_sync=False) as w:
        w.append(*_set(1))
        w.flush_and_sync()
    assert calls == []
    assert _zxids(_logs(tmp_path)[0]) == [1]


def test_slow_fsync_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ticks: Iterator[float] = iter([0.0, 2.5, 10.0, 10.001])
    w = TxnLogWriter(tmp_path, prealloc_size=PREALLOC, fsync_warning_ms=1000, clock=lambda: next(ticks))
    with caplog.at_level(logging.WARNING, logger="zkeeper.storage.txnlog"):
        w.append(*_set(1))
        w.flush_and_sync()  # "took" 2500 ms
        w.append(*_set(2))
        w.flush_and_sync()  # 1 ms
    assert w.fsync_threshold_exceeded == 1
    assert w.fsync_elapsed_ms == pytest.approx(1.0)
    assert "fsync-ing the write ahead log took 2500ms" in caplog.text
    w.close()


def test_roll_starts_a_new_file_and_restart_never_appends(tmp_path: Path) -> None:
    w = TxnLogWriter(tmp_path, prealloc_size=PREALLOC)
    for z in (1, 2, 3):
        w.append(*_set(z))
    w.roll()  # syncs what was appended first
    for z in (4, 5):
        w.append(*_set(z))
    w.close()
    w2 = TxnLogWriter(tmp_path, prealloc_size=PREALLOC)  # a restarted server
    w2.append(*_set(6))
    w2.close()
    logs = _logs(tmp_path)
    assert [p.name for p in logs] == ["log.1", "log.4", "log.6"]
    assert [_zxids(p) for p in logs] == [[1, 2, 3], [4, 5], [6]]
    assert w.prior_logs_size > 0


def test_size_limit_rolls(tmp_path: Path) -> None:
    with TxnLogWriter(tmp_path, prealloc_size=PREALLOC, size_limit=1000) as w:
        for z in range(1, 31):
            w.append(*_set(z))
            w.flush_and_sync()
    logs = _logs(tmp_path)
    assert len(logs) > 3
    assert sum((_zxids(p) for p in logs), []) == list(range(1, 31))


def test_refuses_to_overwrite_a_log_with_data(tmp_path: Path) -> None:
    with TxnLogWriter(tmp_path, prealloc_size=PREALLOC) as w:
        w.append(*_set(7))
    w2 = TxnLogWriter(tmp_path)
    with pytest.raises(StorageError, match="refusing to overwrite"):
        w2.append(*_set(7))
    # A log cut back to its bare header (what recovery leaves of a torn first record)
    # is replaced.
    (path,) = _logs(tmp_path)
    os.truncate(path, FileHeader.SIZE)
    with TxnLogWriter(tmp_path) as w3:
        w3.append(*_set(7, 5))
    assert [e.txn.data for _, e in read_log(path)] == [bytes([7]) * 5]


# ---- a full disk ---------------------------------------------------------------------


class _FailingPwrite:
    """os.pwrite that, once armed, writes half of the next buffer and then fails."""

    def __init__(self, err: int = errno.ENOSPC) -> None:
        self.real = os.pwrite
        self.armed = False
        self.err = err

    def __call__(self, fd: int, data: Any, offset: int) -> int:
        if not self.armed:
            return self.real(fd, data, offset)
        self.armed = False
        self.real(fd, bytes(data[: len(data) // 2]), offset)
        raise OSError(self.err, os.strerror(self.err))


def test_disk_full_during_write_undoes_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fail = _FailingPwrite()
    monkeypatch.setattr(os, "pwrite", fail)
    w = TxnLogWriter(tmp_path, prealloc_size=PREALLOC)
    for z in (1, 2, 3):
        w.append(*_set(z))
    w.flush_and_sync()
    (path,) = _logs(tmp_path)
    durable = path.stat().st_size
    for z in (4, 5, 6):
        w.append(*_set(z, 3000))
    fail.armed = True
    with pytest.raises(DiskFullError) as info:
        w.flush_and_sync()
    assert info.value.path == path and info.value.errno == errno.ENOSPC
    # The file ends exactly after the last synced record: no half record, no 4..6.
    with LogReader(path) as r:
        assert [rec.zxid for rec in r.records()] == [1, 2, 3]
        assert r.stop.status is Scan.END and r.stop.offset == r.size
    assert path.stat().st_size < durable  # the padding went too
    assert w.last_zxid == 3
    # Space came back: the writer carries on right after the good records.
    for z in (4, 5):
        w.append(*_set(z))
    w.flush_and_sync()
    w.close()
    assert _zxids(path) == [1, 2, 3, 4, 5]


def test_disk_full_on_a_new_file_removes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fail = _FailingPwrite()
    monkeypatch.setattr(os, "pwrite", fail)
    w = TxnLogWriter(tmp_path, prealloc_size=PREALLOC)
    w.append(*_set(1))
    fail.armed = True
    with pytest.raises(DiskFullError):
        w.flush_and_sync()
    assert _logs(tmp_path) == []  # ZooKeeper cannot start on a log without a header
    w.append(*_set(1))
    w.close()
    assert _zxids(_logs(tmp_path)[0]) == [1]


def test_failed_fsync_undoes_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = txnlog_mod.fsync_file  # type: ignore[attr-defined]
    failures = {"left": 0}

    def flaky(fd: int) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(txnlog_mod, "fsync_file", flaky)
    w = TxnLogWriter(tmp_path, prealloc_size=PREALLOC)
    w.append(*_set(1))
    w.flush_and_sync()
    w.append(*_set(2))
    failures["left"] = 1
    with pytest.raises(LogWriteError) as info:
        w.flush_and_sync()
    assert not isinstance(info.value, DiskFullError) and info.value.errno == errno.EIO
    w.close()
    assert _zxids(_logs(tmp_path)[0]) == [1]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 192 KB tmpfs, when this machine lets us mount one (root in a privileged box)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mnt)],
                       check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False, capture_output=True, timeout=10)


def test_real_disk_full(tiny_fs: Path) -> None:
    w = TxnLogWriter(tiny_fs, prealloc_size=PREALLOC)
    synced: list[int] = []
    with pytest.raises(DiskFullError):
        for z in range(1, 1000):
            w.append(*_set(z, 7000))
            w.flush_and_sync()
            synced.append(z)
    assert 5 < len(synced) < 100
    (path,) = _logs(tiny_fs)
    with LogReader(path) as r:
        assert [rec.zxid for rec in r.records()] == synced
        assert r.stop.status is Scan.END and r.stop.offset == r.size
    # Small txns still fit in what is left; the log continues seamlessly.
    w.append(*_set(synced[-1] + 1, 10))
    w.flush_and_sync()
    w.close()
    assert _zxids(path) == synced + [synced[-1] + 1]


def _records_by_scan_record(path: Path) -> tuple[list[tuple[int, int, int, bytes]], Any]:
    """What LogReader.records() yields, spelled out with format.scan_record alone."""
    from zkeeper.storage.format import ScanResult, entry_zxid, scan_record

    buf = path.read_bytes()
    out = []
    pos = FileHeader.SIZE
    while True:
        r = scan_record(buf, pos, len(buf))
        if r.status is not Scan.OK:
            return out, r
        try:
            zxid = entry_zxid(r.entry)
        except Exception as e:  # noqa: BLE001 - FormatError, as records() turns it into a stop
            return out, ScanResult(Scan.BAD_CHECKSUM, pos, pos, r.entry, str(e))
        out.append((pos, r.end, zxid, r.entry))
        pos = r.end


def test_reader_fast_path_agrees_with_scan_record(tmp_path: Path) -> None:
    """records() checks whole, good records inline and leaves the rest to scan_record:
    on damage anywhere (flipped bits, cuts, a short entry) both must see the same."""
    import random
    import struct

    from zkeeper.storage.format import checksum

    with TxnLogWriter(tmp_path, prealloc_size=PREALLOC) as w:
        for z in range(1, 40):
            w.append(*_set(z, size=z % 7 * 20))
    (path,) = _logs(tmp_path)
    good = path.read_bytes()
    used = len(good.rstrip(b"\0"))
    short = struct.pack(">i", 5) + b"short"  # checksum-valid, too short for a TxnHeader
    variants = [good, good[:used] + struct.pack(">qi", checksum(short[4:]), 5) + b"short\x42"]
    rng = random.Random(3)
    for _ in range(150):
        bad = bytearray(good)
        bad[rng.randrange(FileHeader.SIZE, used)] ^= 1 << rng.randrange(8)
        variants.append(bytes(bad))
    variants += [good[:n] for n in range(FileHeader.SIZE, used + 2, 37)]
    for data in variants:
        path.write_bytes(data)
        expected, stop = _records_by_scan_record(path)
        with LogReader(path) as r:
            got = [tuple(rec) for rec in r.records()]
            assert got == expected
            assert r.stop == stop
