"""The SNAP stream (a leader's tree for a learner): round trips, agreement with snapshot
files, framing on a byte stream, damage, and Apache ZooKeeper on both ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkeeper.storage import CorruptSnapshotError, load_snapshot, write_snapshot
from zkeeper.storage.format import FileHeader
from zkeeper.storage.transfer import SnapshotStreamScanner, decode_snapshot_stream, encode_snapshot_stream
from zkeeper.tree.datatree import DataTree

from .helpers import Scenario, assert_same_tree, build_mixed
from .zk_oracle import needs_zookeeper, zookeeper

SIGNATURE = b"\x00\x00\x00\x0aBenWasHere"


@pytest.fixture(scope="module")
def mixed() -> Scenario:
    sc = Scenario()
    build_mixed(sc)
    return sc


def test_round_trip(mixed: Scenario) -> None:
    data = encode_snapshot_stream(mixed.tree, mixed.open_sessions)
    assert data.endswith(b"\x00\x00\x00\x01/" + SIGNATURE)
    tree, sessions = decode_snapshot_stream(data, mixed.last_zxid)
    assert_same_tree(tree, mixed.tree)  # last_processed_zxid included: it is the SNAP's zxid
    assert sessions == mixed.open_sessions
    assert decode_snapshot_stream(data)[0].last_processed_zxid == 0


def test_empty_database() -> None:
    data = encode_snapshot_stream(DataTree(), {})
    assert data[:4] == bytes(4)  # no sessions
    tree, sessions = decode_snapshot_stream(data)
    assert_same_tree(tree, DataTree())
    assert sessions == {}


def test_many_sessions_and_acls(mixed: Scenario) -> None:
    sessions = {(1 << 56) + i: 4000 + i for i in range(500)} | {-5: 30000}
    _, got = decode_snapshot_stream(encode_snapshot_stream(mixed.tree, sessions))
    assert got == sessions


def test_agrees_with_a_snapshot_file(tmp_path: Path, mixed: Scenario) -> None:
    """The stream is a snapshot file's body: the same bytes between the header and the seal."""
    path = write_snapshot(mixed.tree, mixed.open_sessions, mixed.last_zxid, tmp_path)
    stream = encode_snapshot_stream(mixed.tree, mixed.open_sessions)
    body = stream[:-len(SIGNATURE)]
    assert path.read_bytes()[FileHeader.SIZE:FileHeader.SIZE + len(body)] == body
    from_file = load_snapshot(path)
    tree, sessions = decode_snapshot_stream(stream, mixed.last_zxid)
    assert_same_tree(tree, from_file.tree)
    assert sessions == from_file.sessions


def test_damage_is_reported() -> None:
    sc = Scenario()
    build_mixed(sc)
    data = encode_snapshot_stream(sc.tree, sc.open_sessions)
    for bad, why in [
        (data[:-len(SIGNATURE)], "missing signature"),
        (data[:-1] + b"X", "missing signature"),
        (data + b"\x00", "1 bytes after the signature"),
        (data[:len(data) // 2], "snapshot stream"),
        (b"", "snapshot stream"),
        (b"\xff" * 8 + data[8:], "snapshot stream"),
    ]:
        with pytest.raises(CorruptSnapshotError, match=why):
            decode_snapshot_stream(bad)


# ---- finding the end on a byte stream ----------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_scanner_finds_the_end(mixed: Scenario, chunk: int) -> None:
    data = encode_snapshot_stream(mixed.tree, mixed.open_sessions)
    head, tail = b"packet before", b"\x00\x00\x00\x0bnext packet"
    stream = head + data + tail
    scanner = SnapshotStreamScanner(len(head))
    buf = bytearray()
    found = None
    for i in range(0, len(stream), chunk):
        buf += stream[i:i + chunk]
        found = scanner.end(buf)
        if found is not None:
            break
    assert found == len(head) + len(data) and len(buf) >= found and (chunk > 1 or len(buf) == found)
    assert scanner.end(buf) == found
    assert_same_tree(decode_snapshot_stream(bytes(buf[len(head):found]))[0], decode_snapshot_stream(data)[0])


def test_scanner_rejects_nonsense(mixed: Scenario) -> None:
    with pytest.raises(CorruptSnapshotError, match="negative session count"):
        SnapshotStreamScanner().end(b"\xff\xff\xff\xff")
    data = bytearray(encode_snapshot_stream(mixed.tree, {}))
    data[-len(SIGNATURE):] = b"\x00\x00\x00\x0aBenWasGone"
    with pytest.raises(CorruptSnapshotError, match="missing signature"):
        SnapshotStreamScanner().end(data)


# ---- Apache ZooKeeper on either end ------------------------------------------------------


@needs_zookeeper
def test_zookeeper_leader_streams_what_we_stream(tmp_path: Path, mixed: Scenario) -> None:
    """ZooKeeper loads our snapshot file and streams it as LearnerHandler does after SNAP."""
    write_snapshot(mixed.tree, mixed.open_sessions, mixed.last_zxid, tmp_path)
    out = tmp_path / "stream"
    assert zookeeper("to-stream", tmp_path, out) == [f"{mixed.last_zxid:x}"]
    theirs = out.read_bytes()
    tree, sessions = decode_snapshot_stream(theirs, mixed.last_zxid)
    assert_same_tree(tree, mixed.tree)
    assert sessions == mixed.open_sessions
    # One session, so no HashMap order to differ in: the same bytes.
    assert len(mixed.open_sessions) == 1
    assert theirs == encode_snapshot_stream(mixed.tree, mixed.open_sessions)
    assert SnapshotStreamScanner().end(theirs) == len(theirs)


@needs_zookeeper
def test_zookeeper_learner_takes_our_stream(tmp_path: Path, mixed: Scenario) -> None:
    """ZooKeeper reads our stream as a learner does (deserializeSnapshot, then the
    signature) and saves it as a snapshot; that snapshot holds our tree and sessions."""
    sessions = dict(mixed.open_sessions) | {0x1234: 5000, (1 << 60) + 3: 12000}
    stream = tmp_path / "stream"
    stream.write_bytes(encode_snapshot_stream(mixed.tree, sessions))
    data_dir = tmp_path / "learner"
    counts = zookeeper("from-stream", data_dir, stream, hex(mixed.last_zxid))
    # ZooKeeper's node table holds the root twice, as "" and as "/".
    assert counts == [f"{len(mixed.tree.nodes) + 1} {len(sessions)}"]
    loaded = load_snapshot(data_dir / "version-2" / f"snapshot.{mixed.last_zxid:x}")
    assert_same_tree(loaded.tree, mixed.tree)
    assert loaded.sessions == sessions
