"""ZooKeeper's snapshot byte format (pure): encode a tree, decode one back.

Layout (FileSnap + SerializeUtils + DataTree + ReferenceCountedACLCache):

    FileHeader {int magic "ZKSN", int version 2, long dbid -1}
    int count, count x {long session id, int timeout}
    int count, count x {long acl index, vector<ACL>}      the ACL cache
    per znode, parents first: ustring path ("" for the root), DataNode {buffer data,
        long acl index (-1 = OPEN_ACL_UNSAFE), StatPersisted}
    ustring "/"                                           end of the nodes
    long adler32 of every byte so far, ustring "/"        the seal
    long zxid, int digest version, long digest            ZxidDigest (3.6+)
    long adler32 of every byte so far, ustring "/"        a second seal over the digest

The digest comes after the first seal so that readers older than 3.6 stop there.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..jute import ACL, Id
from ..paths import basename, parent_of
from ..tree.acl import OPEN_ACL_UNSAFE
from ..tree.datatree import CONFIG, QUOTA, ZOOKEEPER, DataTree
from ..tree.javaorder import JavaHashSet
from ..tree.znode import Znode
from ..types import CONTAINER_EPHEMERAL_OWNER, ttl_of_owner
from .digest import ZxidDigest, node_digest, to_signed64
from .format import DIGEST_VERSION, FORMAT_VERSION, SNAP_DBID, SNAP_MAGIC, FileHeader, FormatError

OPEN_ACL_INDEX = -1  # ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_SESSION = struct.Struct(">qi")
# DataNode after its data: long acl index + StatPersisted {czxid mzxid ctime mtime
# version cversion aversion ephemeralOwner pzxid}.
_NODE_TAIL = struct.Struct(">qqqqqiiiqq")
_DIGEST_V2 = struct.Struct(">qiq")
_SLASH = _INT.pack(1) + b"/"  # ustring "/": the end-of-nodes marker and the seal tail
_OPEN_KEY = tuple(OPEN_ACL_UNSAFE)
_CHUNK = 1 << 16


# ---- writing --------------------------------------------------------------------------


class _CheckedOut:
    """Buffers output and keeps the running Adler32 of everything written, like the
    CheckedOutputStream that FileSnap writes through."""

    def __init__(self, out: Callable[[bytes], Any]) -> None:
        self.out = out
        self.buf = bytearray()
        self.adler = 1

    def write(self, b: bytes) -> None:
        self.buf += b
        if len(self.buf) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.adler = zlib.adler32(self.buf, self.adler)
            self.out(bytes(self.buf))
            self.buf.clear()

    def seal(self) -> None:
        self.flush()
        self.write(_LONG.pack(self.adler & 0xFFFFFFFF) + _SLASH)


def _ustring(s: str) -> bytes:
    b = s.encode("utf-8")
    return _INT.pack(len(b)) + b


def _acl_bytes(acl: list[ACL]) -> bytes:
    parts = [_INT.pack(len(acl))]
    for a in acl:
        parts.append(_INT.pack(int(a.perms)) + _ustring(a.id.scheme) + _ustring(a.id.id))
    return b"".join(parts)


def _acl_index(tree: DataTree) -> tuple[dict[tuple[ACL, ...], int], dict[int, list[ACL]]]:
    """Number each distinct ACL list, as ZooKeeper's ACL cache does; the open ACL gets
    ZooKeeper's reserved -1 so no map entry is needed for the most common list."""
    index: dict[tuple[ACL, ...], int] = {_OPEN_KEY: OPEN_ACL_INDEX}
    by_index: dict[int, list[ACL]] = {}
    for node in tree.nodes.values():
        key = tuple(node.acl)
        if key not in index:
            n = len(by_index) + 1
            index[key] = n
            by_index[n] = list(node.acl)
    return index, by_index


def _preorder(tree: DataTree) -> Iterator[tuple[str, Znode]]:
    """Parents before children, children in ZooKeeper's (HashSet) order; iterative so
    deep trees cannot overflow the stack."""
    nodes = tree.nodes
    stack: list[str] = ["/"]
    while stack:
        path = stack.pop()
        node = nodes[path]
        yield path, node
        prefix = "/" if path == "/" else path + "/"
        stack.extend(prefix + name for name in reversed(node.children_in_java_order()))


def encode_snapshot(tree: DataTree, sessions: dict[int, int], zxid: int,
                    out: Callable[[bytes], Any], *, with_digest: bool = True) -> ZxidDigest | None:
    """Write the snapshot of `tree` at `zxid` to `out` in chunks; return the digest written.

    The tree must not change meanwhile (the caller gives us a consistent view), so the
    digest is exact for `zxid` and a reader may check it right after loading.
    """
    w = _CheckedOut(out)
    w.write(FileHeader(SNAP_MAGIC, FORMAT_VERSION, SNAP_DBID).encode())
    w.write(_INT.pack(len(sessions)))
    for sid, timeout in sessions.items():
        w.write(_SESSION.pack(sid, timeout))
    index, by_index = _acl_index(tree)
    w.write(_INT.pack(len(by_index)))
    for n, acl in by_index.items():
        w.write(_LONG.pack(n) + _acl_bytes(acl))
    total = 0
    for path, node in _preorder(tree):
        total += node_digest(path, node)
        data = node.data
        w.write(b"".join((
            _ustring("" if path == "/" else path),
            # Null data stays null (length -1), as ZooKeeper writes a node created without data.
            _INT.pack(-1) if data is None else _INT.pack(len(data)), data or b"",
            _NODE_TAIL.pack(index[tuple(node.acl)], node.czxid, node.mzxid, node.ctime, node.mtime,
                            node.version, node.cversion, node.aversion, node.ephemeral_owner, node.pzxid),
        )))
    w.write(_SLASH)
    w.seal()
    digest = None
    if with_digest:
        digest = ZxidDigest(zxid, DIGEST_VERSION, to_signed64(total))
        w.write(_DIGEST_V2.pack(digest.zxid, digest.version, digest.digest))
        w.seal()
    w.flush()
    return digest


# ---- reading --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RawNode:
    path: str  # "" for the root, as stored
    data: bytes | None  # None: stored as null
    acl_index: int
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    pzxid: int


class SnapshotDecoder:
    """Reads a snapshot section by section, in file order: header(), sessions(), acls(),
    nodes(), trailer(). `buf` may be bytes or an mmap; every length is bounds-checked."""

    def __init__(self, buf: Any) -> None:
        self.buf = buf
        self.end = len(buf)
        self.pos = 0

    def _take(self, n: int) -> int:
        p = self.pos
        if n < 0 or p + n > self.end:
            raise FormatError(f"truncated at offset {p}: need {n} bytes, have {self.end - p}")
        self.pos = p + n
        return p

    def _int(self) -> int:
        return int(_INT.unpack_from(self.buf, self._take(4))[0])

    def _long(self) -> int:
        return int(_LONG.unpack_from(self.buf, self._take(8))[0])

    def _bytes(self) -> bytes | None:
        n = self._int()
        if n == -1:
            return None
        p = self._take(n)
        return bytes(self.buf[p : p + n])

    def _str(self) -> str:
        raw = self._bytes()
        if raw is None:
            raise FormatError(f"null string at offset {self.pos - 4}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise FormatError(f"invalid UTF-8 at offset {self.pos - len(raw)}: {e}") from None

    def _count(self, what: str, min_size: int) -> int:
        n = self._int()
        if n < 0 or n * min_size > self.end - self.pos:
            raise FormatError(f"impossible {what} count {n} at offset {self.pos - 4}")
        return n

    def header(self) -> FileHeader:
        hdr = FileHeader(*struct.unpack_from(">iiq", self.buf, self._take(FileHeader.SIZE)))
        if hdr.magic != SNAP_MAGIC:
            raise FormatError(f"bad magic {hdr.magic:#x}, expected {SNAP_MAGIC:#x} (ZKSN)")
        return hdr

    def sessions(self) -> dict[int, int]:
        n = self._count("session", _SESSION.size)
        out: dict[int, int] = {}
        for _ in range(n):
            sid, timeout = _SESSION.unpack_from(self.buf, self._take(_SESSION.size))
            out[sid] = timeout
        return out

    def acls(self) -> dict[int, list[ACL]]:
        n = self._count("ACL cache entry", 12)
        out: dict[int, list[ACL]] = {}
        for _ in range(n):
            index = self._long()
            acl = []
            for _ in range(self._count("ACL", 12)):
                perms = self._int()
                acl.append(ACL(perms, Id(self._str(), self._str())))
            out[index] = acl
        return out

    def nodes(self) -> Iterator[RawNode]:
        while True:
            path = self._str()
            if path == "/":
                return
            data = self._bytes()
            yield RawNode(path, data, *_NODE_TAIL.unpack_from(self.buf, self._take(_NODE_TAIL.size)))

    def _seal(self, what: str) -> None:
        with memoryview(self.buf) as view, view[: self.pos] as covered:
            expected = zlib.adler32(covered) & 0xFFFFFFFF
        stored = self._long()
        if self._str() != "/":  # FileSnap writes "/" after the checksum; ZooKeeper skips it
            raise FormatError(f"{what} seal lacks its \"/\" marker")
        if stored != expected:
            raise FormatError(f"{what} checksum mismatch: stored {stored:#x}, computed {expected:#x}")

    def trailer(self) -> ZxidDigest | None:
        """Check the seal(s); return the digest section if present (3.6+ writers)."""
        self._seal("snapshot")
        if self.end - self.pos < 12:
            # Written without a digest (ZooKeeper < 3.6, or digests disabled).
            return None
        zxid = self._long()
        version = self._int()
        if version < 2:
            text = self._bytes()  # digest versions < 2 stored the value as a hex string
            digest = to_signed64(int(text.decode("ascii"), 16)) if text else 0
        else:
            digest = self._long()
        self._seal("snapshot digest")
        return ZxidDigest(zxid, version, digest)


# ---- building a tree ------------------------------------------------------------------


def _register_owner(tree: DataTree, path: str, owner: int) -> None:
    """The bookkeeping DataTree.create_node does for a node's ephemeralOwner."""
    if owner == 0:
        return
    if owner == CONTAINER_EPHEMERAL_OWNER:
        tree.containers.add(path)
    elif ttl_of_owner(owner) is not None:
        tree.ttls.add(path)
    else:
        paths = tree.ephemerals.get(owner)
        if paths is None:
            paths = tree.ephemerals[owner] = JavaHashSet()
        paths.add(path)


def build_tree(nodes: Iterator[RawNode], acls: dict[int, list[ACL]], zxid: int) -> DataTree:
    """A DataTree holding exactly the snapshot's nodes, registered as DataTree itself
    registers created nodes (ephemerals, containers, TTLs, approximate data size)."""
    tree = DataTree()
    system = dict(tree.nodes)
    tree.nodes.clear()
    tree.ephemerals.clear()
    tree.containers.clear()
    tree.ttls.clear()
    tree.approximate_data_size = 0
    table = tree.nodes
    for raw in nodes:
        if raw.path == "":
            path = "/"
            if table:
                raise FormatError("the root is not the first node")
        elif raw.path.startswith("/") and not raw.path.endswith("/"):
            path = raw.path
        else:
            raise FormatError(f"invalid node path {raw.path!r}")
        if path in table:
            raise FormatError(f"node {path} appears twice")
        if raw.acl_index == OPEN_ACL_INDEX:
            acl = OPEN_ACL_UNSAFE
        else:
            found = acls.get(raw.acl_index)
            if found is None:
                raise FormatError(f"node {path} refers to ACL {raw.acl_index}, which is not in the ACL cache")
            acl = found
        node = Znode(raw.data, acl, raw.czxid, raw.ctime, raw.ephemeral_owner)
        node.mzxid = raw.mzxid
        node.mtime = raw.mtime
        node.version = raw.version
        node.cversion = raw.cversion
        node.aversion = raw.aversion
        node.pzxid = raw.pzxid
        if path != "/":
            parent = table.get(parent_of(path))
            if parent is None:
                raise FormatError(f"parent of {path} is missing (a node must follow its parent)")
            parent.add_child(basename(path))
            _register_owner(tree, path, raw.ephemeral_owner)
        table[path] = node
        tree.approximate_data_size += len(path) + (len(raw.data) if raw.data else 0)
    if "/" not in table:
        raise FormatError("no root node")
    # Snapshots of old ZooKeeper versions lack /zookeeper/config; keep the tree complete.
    for path in (ZOOKEEPER, QUOTA, CONFIG):
        if path not in table:
            node = system[path]
            node.children.clear()
            table[parent_of(path)].add_child(basename(path))
            table[path] = node
            tree.approximate_data_size += len(path) + (len(node.data) if node.data else 0)
    tree.last_processed_zxid = zxid
    return tree
