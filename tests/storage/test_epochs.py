"""acceptedEpoch / currentEpoch files: ZooKeeper's format, atomic durable writes, garbage."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkeeper.storage import StorageError, epochs
from zkeeper.storage.epochs import ACCEPTED_EPOCH, CURRENT_EPOCH, TMP_SUFFIX, read_epoch, write_epoch

from .zk_oracle import needs_zookeeper, zookeeper


def _file(base: Path, name: str) -> Path:
    return base / "version-2" / name


def test_absent_file_reads_as_none(tmp_path: Path) -> None:
    assert read_epoch(tmp_path, CURRENT_EPOCH) is None
    assert read_epoch(tmp_path, ACCEPTED_EPOCH) is None


def test_write_then_read(tmp_path: Path) -> None:
    write_epoch(tmp_path, ACCEPTED_EPOCH, 7)
    write_epoch(tmp_path, CURRENT_EPOCH, 6)
    assert _file(tmp_path, ACCEPTED_EPOCH).read_bytes() == b"7"  # Long.toString, no newline
    assert read_epoch(tmp_path, ACCEPTED_EPOCH) == 7
    assert read_epoch(tmp_path, CURRENT_EPOCH) == 6
    write_epoch(tmp_path, ACCEPTED_EPOCH, (1 << 32) - 1)
    assert read_epoch(tmp_path, ACCEPTED_EPOCH) == (1 << 32) - 1
    assert sorted(p.name for p in (tmp_path / "version-2").iterdir()) == [ACCEPTED_EPOCH, CURRENT_EPOCH]


def test_write_is_fsynced_and_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_file, real_dir = epochs.fsync_file, epochs.fsync_dir

    def fsync_file(fd: int) -> None:
        calls.append("file")
        real_file(fd)

    def fsync_dir(d: Path) -> None:
        assert not (d / (CURRENT_EPOCH + TMP_SUFFIX)).exists() and (d / CURRENT_EPOCH).read_bytes() == b"12"
        calls.append("dir")
        real_dir(d)

    monkeypatch.setattr(epochs, "fsync_file", fsync_file)
    monkeypatch.setattr(epochs, "fsync_dir", fsync_dir)
    write_epoch(tmp_path, CURRENT_EPOCH, 12)
    assert calls == ["file", "dir"]


def test_failed_write_keeps_the_old_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_epoch(tmp_path, CURRENT_EPOCH, 3)

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(epochs, "fsync_file", broken)
    with pytest.raises(StorageError, match="currentEpoch.*Input/output error"):
        write_epoch(tmp_path, CURRENT_EPOCH, 4)
    assert read_epoch(tmp_path, CURRENT_EPOCH) == 3
    assert not _file(tmp_path, CURRENT_EPOCH + TMP_SUFFIX).exists()


@pytest.mark.parametrize("content,value", [
    (b"5", 5), (b"5\n", 5), (b"5\r\n", 5), (b"5\r", 5), (b"5\nnot read", 5), (b"+5", 5), (b"-1", -1),
    (b"0", 0), (b"9223372036854775807", (1 << 63) - 1), (b"007", 7),
])
def test_reads_what_zookeeper_reads(tmp_path: Path, content: bytes, value: int) -> None:
    _file(tmp_path, ACCEPTED_EPOCH).parent.mkdir()
    _file(tmp_path, ACCEPTED_EPOCH).write_bytes(content)
    assert read_epoch(tmp_path, ACCEPTED_EPOCH) == value


GARBAGE = [b"", b"\n5", b" 5", b"5 ", b"5.0", b"0x5", b"1_000", b"five", b"9223372036854775808", b"\xff\xfe", b"\x00"]


@pytest.mark.parametrize("content", GARBAGE)
def test_garbage_names_the_file(tmp_path: Path, content: bytes) -> None:
    path = _file(tmp_path, CURRENT_EPOCH)
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(StorageError) as err:
        read_epoch(tmp_path, CURRENT_EPOCH)
    assert str(path) in str(err.value) and "corrupt epoch file" in str(err.value)


def test_bad_arguments(tmp_path: Path) -> None:
    for value in (True, 1 << 63, -(1 << 63) - 1, 1.0):
        with pytest.raises(ValueError):
            write_epoch(tmp_path, CURRENT_EPOCH, value)  # type: ignore[arg-type]
    for name in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            read_epoch(tmp_path, name)
    assert not (tmp_path / "version-2").exists() or not any((tmp_path / "version-2").iterdir())


def test_tmp_file_is_readable_like_zookeeper_does(tmp_path: Path) -> None:
    """ZooKeeper's loadDataBase falls back to currentEpoch.tmp when the logs are of a newer
    epoch than currentEpoch (a crash between the tmp file's fsync and its rename)."""
    path = _file(tmp_path, CURRENT_EPOCH + TMP_SUFFIX)
    path.parent.mkdir()
    path.write_bytes(b"9")
    assert read_epoch(tmp_path, CURRENT_EPOCH + TMP_SUFFIX) == 9


# ---- Apache ZooKeeper's QuorumPeer on the same files ------------------------------------


@needs_zookeeper
def test_zookeeper_writes_what_we_write_and_reads_ours(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    write_epoch(ours, CURRENT_EPOCH, 4)
    write_epoch(ours, ACCEPTED_EPOCH, 5)
    zookeeper("epoch-set", theirs, CURRENT_EPOCH, 4)
    zookeeper("epoch-set", theirs, ACCEPTED_EPOCH, 5)
    for name in (CURRENT_EPOCH, ACCEPTED_EPOCH):
        assert _file(ours, name).read_bytes() == _file(theirs, name).read_bytes()
        assert read_epoch(theirs, name) == int(zookeeper("epoch-get", ours, name)[-1])
    assert sorted(p.name for p in (theirs / "version-2").iterdir()) == [ACCEPTED_EPOCH, CURRENT_EPOCH]


@needs_zookeeper
def test_accepts_and_rejects_what_zookeeper_does(tmp_path: Path) -> None:
    samples = [b"5\n", b"5\r\n", b"+5", b"-1", b"5\nrest", b"007", *GARBAGE]
    for i, content in enumerate(samples):
        base = tmp_path / str(i)
        _file(base, CURRENT_EPOCH).parent.mkdir(parents=True)
        _file(base, CURRENT_EPOCH).write_bytes(content)
        answer = zookeeper("epoch-get", base, CURRENT_EPOCH)[-1]
        if answer.startswith("ERROR"):
            with pytest.raises(StorageError):
                read_epoch(base, CURRENT_EPOCH)
        else:
            assert read_epoch(base, CURRENT_EPOCH) == int(answer), content
