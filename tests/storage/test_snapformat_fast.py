"""The fast snapshot paths against the checked ones: same trees, same errors, same bytes.

`decode_tree` reads well-formed node sections itself and hands anything unusual to
`build_tree(d.nodes(), ...)`; `encode_snapshot` orders children with its own Java
String.hashCode. These tests hold both to the reference code on crafted input.
"""

from __future__ import annotations

import gc
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from zkeeper.jute import ACL, Id
from zkeeper.storage.digest import to_signed64, tree_digest
from zkeeper.storage.format import FormatError
from zkeeper.storage.snapformat import SnapshotDecoder, _java_order, build_tree, decode_tree, encode_snapshot
from zkeeper.tree.acl import OPEN_ACL_UNSAFE
from zkeeper.tree.datatree import DataTree
from zkeeper.tree.javaorder import grown_capacity, hashset_order
from zkeeper.types import CONTAINER_EPHEMERAL_OWNER, ttl_ephemeral_owner

from .helpers import Scenario, build_mixed

ACLS = {1: [ACL(1, Id("digest", "u:x"))], 2: [ACL(31, Id("ip", "10.0.0.0/8"))]}
TTL_OWNER = ttl_ephemeral_owner(60_000)


def _node(path: bytes | None, data: bytes | None = b"v", acl: int = -1, owner: int = 0, zxid: int = 5,
          data_len: int | None = None) -> bytes:
    out = struct.pack(">i", -1) if path is None else struct.pack(">i", len(path)) + path
    if data_len is None:
        data_len = -1 if data is None else len(data)
    out += struct.pack(">i", data_len) + (data or b"")
    return out + struct.pack(">qqqqqiiiqq", acl, zxid, zxid + 1, 1000 + zxid, 2000 + zxid, 3, 4, 5, owner, zxid + 2)


def _section(*nodes: bytes, end: bool = True) -> bytes:
    # The ACL cache as the decoder reads it, then the nodes, the end marker and some
    # bytes after it (in a file the seal follows).
    acls = struct.pack(">i", len(ACLS))
    for index, acl in ACLS.items():
        acls += struct.pack(">qi", index, len(acl))
        for a in acl:
            acls += struct.pack(">i", a.perms)
            for s in (a.id.scheme, a.id.id):
                acls += struct.pack(">i", len(s)) + s.encode()
    return acls + b"".join(nodes) + (_node(b"/") if end else b"") + b"\0" * 8


def _state(tree: DataTree) -> Any:
    nodes = {p: (n.data, n.acl, list(n.children), n.child_capacity, n.czxid, n.mzxid, n.ctime, n.mtime, n.version,
                 n.cversion, n.aversion, n.ephemeral_owner, n.pzxid) for p, n in tree.nodes.items()}
    return (list(tree.nodes), nodes, {k: (list(v.items), v.capacity) for k, v in tree.ephemerals.items()},
            tree.containers, tree.ttls, tree.approximate_data_size, tree.last_processed_zxid)


def _both(section: bytes) -> tuple[Any, Any]:
    """(fast outcome, checked outcome): the tree state, digest and end offset, or the error."""
    out = []
    for fast in (True, False):
        d = SnapshotDecoder(section)
        try:
            acls = d.acls()
            if fast:
                tree, digest = decode_tree(d, acls, 77)
            else:
                tree, digest = build_tree(d.nodes(), acls, 77), None
        except FormatError as e:
            out.append(("error", str(e)))
            continue
        out.append((_state(tree), d.pos, tree, digest))
    return out[0], out[1]


def _same(section: bytes) -> tuple[Any, Any]:
    fast, checked = _both(section)
    assert fast[:2] == checked[:2]
    return fast, checked


ROOT = _node(b"", b"")
WELL_FORMED = [
    _section(ROOT, _node(b"/a"), _node(b"/a/b", None), _node(b"/a/b/c", b"", acl=1), _node(b"/a/d"), _node(b"/e")),
    # Children of one parent interleaved with a child's subtree, and back.
    _section(ROOT, _node(b"/a"), _node(b"/a/x"), _node(b"/a/x/1"), _node(b"/a/x/2"), _node(b"/a/y"), _node(b"/b"),
             _node(b"/b/1")),
    # Owners: ephemeral, container, TTL; the root's owner is never registered.
    _section(_node(b"", b"", owner=9), _node(b"/eph", owner=0x1234), _node(b"/c", owner=CONTAINER_EPHEMERAL_OWNER),
             _node(b"/t", owner=TTL_OWNER), _node(b"/eph2", owner=0x1234)),
    # The system nodes: the digest leaves out what is under /zookeeper/.
    _section(ROOT, _node(b"/zookeeper", b""), _node(b"/zookeeper/quota", b"q"), _node(b"/zookeeper/quota/x", b"q"),
             _node(b"/zookeeper/config", b"c", acl=2), _node(b"/zookeeperx", b"z"), _node(b"/zookeeperx/y", b"z")),
    # Only the root (an old writer): the system nodes are added.
    _section(ROOT),
    # Odd but accepted by the checked reader: a doubled "/" (its parent is "/").
    _section(ROOT, _node(b"/x"), _node(b"//y"), _node(b"/z")),
    # Non-ASCII names.
    _section(ROOT, _node("/ä".encode()), _node("/ä/\U0001f600".encode()), _node("/ä/ö".encode())),
]


def _siblings(parent: bytes, first: int, count: int, data: bytes | None = b"0123456789", step: int = 1) -> list[bytes]:
    """Children of one shape (equal name and data lengths): what the batched reader takes."""
    return [_node(b"%s/%05d" % (parent, i), data, acl=(-1, 1, 2)[i % 3] if i % 7 == 0 else -1,
                  owner=0x77 if i % 50 == 3 else 0, zxid=100 + i) for i in range(first, first + count * step, step)]


# Runs of siblings: long ones, ones broken by another shape, by null data, by a node of
# the same shape under another parent, under the root and under /zookeeper/ (no digest).
RUNS = [
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 700), _node(b"/bb"), *_siblings(b"/bb", 0, 40, b""),
             *_siblings(b"/bb", 40, 5, b"x" * 7)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 20), _node(b"/aa/00019/x"), *_siblings(b"/aa", 20, 20, step=3)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), _node(b"/aa/00030", None), *_siblings(b"/aa", 31, 9)),
    _section(ROOT, _node(b"/aa"), _node(b"/bb"), *_siblings(b"/aa", 0, 10), _node(b"/bb/0000"),
             *_siblings(b"/aa", 10, 10)),
    _section(ROOT, *[_node(b"/%05d" % i) for i in range(50)]),
    _section(ROOT, _node(b"/zookeeper"), *_siblings(b"/zookeeper", 0, 100)),
]


@pytest.mark.parametrize("section", WELL_FORMED + RUNS, ids=range(len(WELL_FORMED + RUNS)))
def test_fast_reader_builds_the_same_tree(section: bytes) -> None:
    fast, checked = _same(section)
    assert fast[3] is not None, "the fast reader gave up on well-formed input"
    assert to_signed64(fast[3]) == tree_digest(checked[2])
    for p, node in checked[2].nodes.items():
        assert fast[2].nodes[p].children_in_java_order() == node.children_in_java_order()


DAMAGED = [
    _section(_node(b"/a")),  # root not first
    _section(),  # no root at all
    _section(ROOT, _node(b"")),  # root twice
    _section(ROOT, _node(b"/a"), _node(b"/a")),  # duplicate
    _section(ROOT, _node(b"/a"), _node(b"/b"), _node(b"/a")),  # duplicate, not adjacent
    _section(ROOT, _node(b"/a/b")),  # parent missing
    _section(ROOT, _node(b"a")),  # relative
    _section(ROOT, _node(b"/a"), _node(b"b")),  # relative after a root child
    _section(ROOT, _node(b"/a"), _node(b"a/b")),
    _section(ROOT, _node(b"/a/")),  # trailing "/"
    _section(ROOT, _node(b"/a"), _node(b"/a/")),
    _section(ROOT, _node(b"/a", acl=3)),  # ACL not in the cache
    _section(ROOT, _node(b"/\xff")),  # bad UTF-8
    _section(ROOT, _node(None)),  # null path
    _section(ROOT, _node(b"/a", data_len=-2)),  # negative length
    _section(ROOT, _node(b"/a", data_len=1 << 30)),  # length past the end
    _section(ROOT, _node(b"/a"), end=False)[:-8],  # no end marker
    # Inside runs of siblings: a duplicate, a trailing "/", a doubled "/", an unknown
    # ACL, bad UTF-8, a missing parent, a bad length.
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), *_siblings(b"/aa", 0, 30)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), _node(b"/aa/0004/"), *_siblings(b"/aa", 31, 9)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), _node(b"/aa//0004"), *_siblings(b"/aa", 31, 9)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), _node(b"/aa/00030", acl=9), *_siblings(b"/aa", 31, 9)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), _node(b"/aa/0003\xff"), *_siblings(b"/aa", 31, 9)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), _node(b"/ab/00030"), *_siblings(b"/aa", 31, 9)),
    _section(ROOT, _node(b"/aa"), *_siblings(b"/aa", 0, 30), _node(b"/aa/00030", data_len=-5)),
]


@pytest.mark.parametrize("section", DAMAGED, ids=range(len(DAMAGED)))
def test_fast_reader_fails_as_the_checked_one(section: bytes) -> None:
    fast, _ = _same(section)
    assert fast[0] == "error"


def test_fast_reader_on_every_truncation_and_flipped_byte() -> None:
    good = _section(_node(b"", b"", owner=9), _node(b"/eph", owner=0x1234), _node(b"/a", None),
                    _node(b"/a/b", b"data", acl=1), _node(b"/a/c"))
    cuts = [good[:n] for n in range(len(good))]
    rng = random.Random(7)
    flips = []
    for _ in range(300):
        bad = bytearray(good)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        flips.append(bytes(bad))
    for section in cuts + flips:
        _same(section)


def test_fast_reader_on_damaged_runs() -> None:
    good = RUNS[0]
    rng = random.Random(11)
    for _ in range(200):
        bad = bytearray(good)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        _same(bytes(bad))
    for n in range(0, len(good), 997):
        _same(good[:n])


def test_gc_state_is_restored() -> None:
    d = SnapshotDecoder(WELL_FORMED[0])
    decode_tree(d, d.acls(), 1)
    assert gc.isenabled()
    gc.disable()
    try:
        d = SnapshotDecoder(WELL_FORMED[0])
        decode_tree(d, d.acls(), 1)
        assert not gc.isenabled()
    finally:
        gc.enable()


NAMES = ["", "a", "zookeeper", "0000012345", "seq-0000000003", "ä", "日本語", "\U0001f600x", "x" * 300,
         "\uffff\ud7ff", "Aa", "BB"]


@pytest.mark.parametrize("capacity", [8, 16, 64, 1 << 12, 1 << 20])
def test_java_order_matches_javaorder(capacity: int) -> None:
    rng = random.Random(capacity)
    names = list(NAMES)
    for _ in range(2000):
        alphabet = rng.choice(["0123456789", "abcXYZ-_.", "äöüßéあ", "\U0001f600\U00010000z"])
        names.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 20))))
    names = list(dict.fromkeys(names))
    assert _java_order(names, capacity) == hashset_order(names, capacity)


@pytest.mark.parametrize("count", [63, 64, 65, 1000, 20_000])
def test_java_order_of_many_ascii_names_matches_javaorder(count: int) -> None:
    """Enough short ASCII names take the many-at-once hash."""
    rng = random.Random(count)
    printable = "".join(map(chr, range(32, 127)))
    names = {"%07d" % i for i in range(count // 2)} | {"\0x", "x", "\x7f" * 32, "a" * 32}
    while len(names) < count:
        names.add("".join(rng.choice(printable) for _ in range(rng.randrange(0, 33))))
    ordered = list(names)
    rng.shuffle(ordered)
    for capacity in (8, 1 << 10, grown_capacity(8, count), 1 << 30):
        assert _java_order(ordered, capacity) == hashset_order(ordered, capacity)
    # One longer name: the per-name hash for all.
    ordered.append("y" * 33)
    assert _java_order(ordered, 1 << 12) == hashset_order(ordered, 1 << 12)


def test_encoder_writes_what_the_reference_encoder_wrote() -> None:
    """Byte for byte the same snapshot as encoding with the reference helpers."""
    sc = Scenario()
    build_mixed(sc)
    out = bytearray()
    encode_snapshot(sc.tree, sc.open_sessions, sc.last_zxid, out.extend)
    assert bytes(out) == _reference_encoding(sc.tree, sc.open_sessions, sc.last_zxid)


def _reference_encoding(tree: DataTree, sessions: dict[int, int], zxid: int) -> bytes:
    """The snapshot layout spelled out with the slow, obvious code."""
    import zlib

    from zkeeper.storage.digest import node_digest

    def ustr(s: str) -> bytes:
        return struct.pack(">i", len(s.encode())) + s.encode()

    out = bytearray(struct.pack(">iiq", 0x5A4B534E, 2, -1))
    out += struct.pack(">i", len(sessions)) + b"".join(struct.pack(">qi", k, v) for k, v in sessions.items())
    index: dict[tuple[ACL, ...], int] = {tuple(OPEN_ACL_UNSAFE): -1}
    for node in tree.nodes.values():
        index.setdefault(tuple(node.acl), len(index))
    listed = [(k, n) for k, n in index.items() if n > 0]
    out += struct.pack(">i", len(listed))
    for key, n in listed:
        out += struct.pack(">qi", n, len(key))
        out += b"".join(struct.pack(">i", a.perms) + ustr(a.id.scheme) + ustr(a.id.id) for a in key)
    total = 0
    stack = ["/"]
    while stack:
        path = stack.pop()
        node = tree.nodes[path]
        total += node_digest(path, node)
        data = node.data
        out += ustr("" if path == "/" else path)
        out += struct.pack(">i", -1 if data is None else len(data)) + (data or b"")
        out += struct.pack(">qqqqqiiiqq", index[tuple(node.acl)], node.czxid, node.mzxid, node.ctime, node.mtime,
                           node.version, node.cversion, node.aversion, node.ephemeral_owner, node.pzxid)
        prefix = "/" if path == "/" else path + "/"
        stack.extend(prefix + name for name in reversed(node.children_in_java_order()))
    out += ustr("/")
    out += struct.pack(">q", zlib.adler32(out) & 0xFFFFFFFF) + ustr("/")
    out += struct.pack(">qiq", zxid, 2, to_signed64(total))
    out += struct.pack(">q", zlib.adler32(out) & 0xFFFFFFFF) + ustr("/")
    return bytes(out)


def test_encoder_on_a_loaded_tree_in_table_order(tmp_path: Path) -> None:
    """A loaded tree's node table is in snapshot order, which the encoder walks instead
    of looking nodes up; once a change breaks that order it must look them up again."""
    from zkeeper.jute import CreateRequest
    from zkeeper.storage import load_snapshot, write_snapshot
    from zkeeper.types import OpCode

    sc = Scenario()
    build_mixed(sc)
    sid = sc.session()
    for i in range(300):
        sc.run(sid, OpCode.CREATE, CreateRequest(f"/many-{i:04d}", b"d" * (i % 3), list(OPEN_ACL_UNSAFE), 0))
    path = write_snapshot(sc.tree, sc.open_sessions, sc.last_zxid, tmp_path)
    loaded = load_snapshot(path)
    out = bytearray()
    encode_snapshot(loaded.tree, loaded.sessions, loaded.zxid, out.extend)
    # (Not always the file's bytes: ACL numbers follow the order of the node table.)
    assert bytes(out) == _reference_encoding(loaded.tree, loaded.sessions, loaded.zxid)
    # A new node lands at the end of the table but is written among the others.
    loaded.tree.create_node("/app/late", b"x", list(OPEN_ACL_UNSAFE), 0, -1, loaded.zxid + 1, 5)
    loaded.tree.create_node("/many-0150/under", b"y", list(OPEN_ACL_UNSAFE), 0, -1, loaded.zxid + 2, 6)
    out = bytearray()
    encode_snapshot(loaded.tree, loaded.sessions, loaded.zxid + 2, out.extend)
    assert bytes(out) == _reference_encoding(loaded.tree, loaded.sessions, loaded.zxid + 2)
