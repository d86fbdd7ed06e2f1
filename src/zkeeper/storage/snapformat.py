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

Speed matters here (a server loads and writes a snapshot at every start, and writes
one every snapCount txns): `decode_tree` reads well-formed node sections with a fast
loop (batches of same-shaped siblings with one struct) and hands anything unusual to
the checked reader (`SnapshotDecoder.nodes` + `build_tree`), so errors are always the
checked reader's; `encode_snapshot` keeps every per-node step in one loop and orders
children with a bulk String.hashCode.
"""

from __future__ import annotations

import functools
import gc
import operator
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from ..jute import ACL, Id
from ..paths import basename, parent_of
from ..tree.acl import OPEN_ACL_UNSAFE
from ..tree.datatree import CONFIG, QUOTA, ZOOKEEPER, DataTree
from ..tree.javaorder import JavaHashSet, java_string_hash
from ..tree.znode import Znode, restored_znode
from ..types import CONTAINER_EPHEMERAL_OWNER, ttl_of_owner
from .digest import _STAT as _DIGEST_STAT  # the stat fields in the digest's order
from .digest import EXCLUDED_PREFIX, ZxidDigest, node_digest, to_signed64
from .format import DIGEST_VERSION, FORMAT_VERSION, SNAP_DBID, SNAP_MAGIC, FileHeader, FormatError

OPEN_ACL_INDEX = -1  # ReferenceCountedACLCache.OPEN_UNSAFE_ACL_ID
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_SESSION = struct.Struct(">qi")
# DataNode after its data: long acl index + StatPersisted {czxid mzxid ctime mtime
# version cversion aversion ephemeralOwner pzxid}.
_NODE_TAIL = struct.Struct(">qqqqqiiiqq")
# The fast reader takes a DataNode's tail together with the next node's path length,
# unsigned so that a corrupt negative length cannot move the position backwards.
_NODE_TAIL_NEXT = struct.Struct(">qqqqqiiiqqI")
_UINT = struct.Struct(">I")
_DIGEST_V2 = struct.Struct(">qiq")
_SLASH = _INT.pack(1) + b"/"  # ustring "/": the end-of-nodes marker and the seal tail
_OPEN_KEY = tuple(OPEN_ACL_UNSAFE)
_CHUNK = 1 << 16
_NULL = _INT.pack(-1)
_EMPTY = _INT.pack(0)
_GET_ACL = operator.attrgetter("acl")
_NO_ENTRY: tuple[str, Any] = ("", None)  # past the end of the node table (never a path here)
_mul = operator.mul


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


def _acl_index(tree: DataTree) -> tuple[dict[int, int], dict[int, list[ACL]]]:
    """Number each distinct ACL list, as ZooKeeper's ACL cache does; the open ACL gets
    ZooKeeper's reserved -1 so no map entry is needed for the most common list.

    Returns the number of each ACL list object by its id() (znodes share a few lists,
    DataTree.intern_acl) and the numbered lists. Numbers go by first appearance in
    the node table, as they would by list contents: the lists do not change meanwhile.
    """
    index: dict[tuple[ACL, ...], int] = {_OPEN_KEY: OPEN_ACL_INDEX}
    by_index: dict[int, list[ACL]] = {}
    lists = list(map(_GET_ACL, tree.nodes.values()))
    of_list: dict[int, int] = {}
    for ident, acl in dict(zip(map(id, lists), lists)).items():
        key = tuple(acl)
        n = index.get(key)
        if n is None:
            n = index[key] = len(by_index) + 1
            by_index[n] = list(acl)
        of_list[ident] = n
    return of_list, by_index


def _java_order(names: Iterable[str], capacity: int) -> list[str]:
    """javaorder.hashset_order(names, capacity), fast: a snapshot orders the children of
    every znode, and a Python loop per character of every name would dominate it.

    String.hashCode is sum(unit * 31**k): computed by map/sum in C per name, or for
    many short ASCII names at once by `_lane_buckets`."""
    names = list(names)
    if len(names) >= _LANES_FROM:
        joined = "".join(names)
        width = max(map(len, names))
        if joined.isascii() and width <= _LANE_WIDTH:
            buckets = _lane_buckets(names, width, capacity - 1)
            return list(map(names.__getitem__, sorted(range(len(names)), key=buckets.__getitem__)))
    mask = capacity - 1
    powers = _POWERS

    def bucket(s: str) -> int:
        units: Any = s.encode() if s.isascii() else _utf16_units(s)
        n = len(units)
        if n < _MAX_WEIGHTED:
            h = sum(map(_mul, units, powers[n])) & 0xFFFFFFFF
        else:
            h = java_string_hash(s)
        return (h ^ (h >> 16)) & mask

    return sorted(names, key=bucket)


# Names hashed together: at least this many, each at most this long.
_LANES_FROM = 64
_LANE_WIDTH = 32


def _lane_buckets(names: list[str], width: int, mask: int) -> list[int]:
    """The HashMap bucket of each of `names` (ASCII, at most `width` long), computed with
    one big integer holding a 64-bit lane per name: the names, left-padded with NULs
    (which leave a hashCode unchanged), are added up column by column, each column
    weighted by its power of 31. A lane never carries into the next: it holds at most
    width * 255 * 2**32 < 2**46 before it is reduced to 32 bits."""
    m = len(names)
    text = "".join([s.rjust(width, "\0") for s in names]).encode("ascii")
    column = bytearray(8 * m)
    total = 0
    weight = 1
    for k in range(width - 1, -1, -1):
        column[0::8] = text[k::width]
        total += weight * int.from_bytes(column, "little")
        weight = weight * 31 & 0xFFFFFFFF
    h = total & int.from_bytes(b"\xff\xff\xff\xff\0\0\0\0" * m, "little")
    # Shifting the whole integer moves 16 bits of the next lane into the top of each
    # lane; the mask (below 2**31) drops them.
    buckets = (h ^ (h >> 16)) & int.from_bytes(mask.to_bytes(8, "little") * m, "little")
    return list(struct.unpack(f"<{m}Q", buckets.to_bytes(8 * m, "little")))


def _utf16_units(s: str) -> tuple[int, ...]:
    b = s.encode("utf-16-be", "surrogatepass")
    return struct.unpack(f">{len(b) // 2}H", b)


# _POWERS[n]: 31**(n-1), ..., 31, 1 modulo 2**32, the weights of a name of n UTF-16
# units; longer names take javaorder's loop.
_MAX_WEIGHTED = 256
_POWERS: list[tuple[int, ...]] = [()]
while len(_POWERS) < _MAX_WEIGHTED:
    _POWERS.append(tuple(x * 31 & 0xFFFFFFFF for x in _POWERS[-1]) + (1,))


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
    of_list, by_index = _acl_index(tree)
    w.write(_INT.pack(len(by_index)))
    for n, acl in by_index.items():
        w.write(_LONG.pack(n) + _acl_bytes(acl))
    total = _encode_nodes(tree, of_list, w)
    w.write(_SLASH)
    w.seal()
    digest = None
    if with_digest:
        digest = ZxidDigest(zxid, DIGEST_VERSION, to_signed64(total))
        w.write(_DIGEST_V2.pack(digest.zxid, digest.version, digest.digest))
        w.seal()
    w.flush()
    return digest


def _encode_nodes(tree: DataTree, acl_of_list: dict[int, int], w: _CheckedOut) -> int:
    """Every node, parents first, children in ZooKeeper's (HashSet) order; returns the
    tree digest (unwrapped). Iterative, so deep trees cannot overflow the stack."""
    nodes = tree.nodes
    root = nodes["/"]
    buf = w.buf
    pack_int = _INT.pack
    pack_tail = _NODE_TAIL.pack
    pack_stat = _DIGEST_STAT.pack
    crc32 = zlib.crc32
    order = _java_order
    total = 0
    # A node table often holds the nodes in just this order (a tree loaded from a
    # snapshot and not changed since): then the nodes come from walking the table, not
    # from looking each path up (hashing a new string, probing a big table), until the
    # first one out of order.
    in_order: Iterator[tuple[str, Znode]] | None = iter(nodes.items())
    # (prefix of the children's paths, their names in order, digest leaves them out)
    stack: list[tuple[str, Iterator[str], bool]] = [("", iter(("/",)), False)]
    while stack:
        prefix, names, excluded = stack[-1]
        for name in names:
            path = prefix + name
            if in_order is not None:
                key, node = next(in_order, _NO_ENTRY)
                if key != path:
                    in_order = None
                    node = nodes[path]
            else:
                node = nodes[path]
            pb = b"" if node is root else path.encode()  # ZooKeeper keys the root ""
            data = node.data
            czxid = node.czxid
            mzxid = node.mzxid
            ctime = node.ctime
            mtime = node.mtime
            version = node.version
            cversion = node.cversion
            aversion = node.aversion
            owner = node.ephemeral_owner
            pzxid = node.pzxid
            buf += pack_int(len(pb))
            buf += pb
            stat = pack_stat(czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, owner)
            if data:
                buf += pack_int(len(data))
                buf += data
                if not excluded:
                    total += crc32(pb + data + stat)
            else:
                # Null data stays null (length -1), as ZooKeeper writes a node created without data.
                buf += _NULL if data is None else _EMPTY
                if not excluded:
                    total += crc32(pb + stat)
            buf += pack_tail(acl_of_list[id(node.acl)], czxid, mzxid, ctime, mtime, version, cversion, aversion,
                             owner, pzxid)
            if len(buf) >= _CHUNK:
                w.flush()
            if node.children:
                stack.append(("/" if node is root else path + "/",
                              iter(order(node.children, node.child_capacity or 8)),
                              path == ZOOKEEPER or path.startswith(EXCLUDED_PREFIX)))
                break
        else:
            stack.pop()
    return total


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


class _Irregular(Exception):
    """Something the fast node reader does not handle; the checked reader takes over."""


def decode_tree(d: SnapshotDecoder, acls: dict[int, list[ACL]], zxid: int) -> tuple[DataTree, int | None]:
    """The nodes section of `d` (positioned at it) as a tree, as `build_tree(d.nodes(), ...)`
    builds it, and the tree digest (unwrapped sum, see digest.py) computed on the way.

    A fast reader handles well-formed input; on anything unusual (damage, a duplicate,
    a missing parent or ACL) it gives up and the checked reader reads the section
    again, so errors and their messages are the checked reader's (the digest is then
    None). The cyclic GC is paused meanwhile (`gc_paused`).
    """
    start = d.pos
    with gc_paused():
        try:
            tree, end, digest = _decode_tree_fast(d.buf, start, acls, zxid)
        except (_Irregular, struct.error, KeyError, UnicodeDecodeError):
            d.pos = start
            return build_tree(d.nodes(), acls, zxid), None
    d.pos = end
    return tree, digest


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic GC off while a big tree is built: its millions of new objects have no
    cycles, and each collection would walk all of them (dozens of times over a load).

    Afterwards everything alive goes to the oldest generation without being walked
    (freeze + unfreeze), where collections of the young generations do not look; else
    the first of them, right after, would walk the whole new tree once per generation.
    Not when the process keeps frozen objects of its own (unfreeze would release them),
    and nested uses leave it to the outermost.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _decode_tree_fast(buf: Any, pos: int, acls: dict[int, list[ACL]], zxid: int) -> tuple[DataTree, int, int]:
    """Returns (tree, offset after the end marker, digest). Every check of build_tree and
    nodes() is made, some at the end (duplicates by count, empty names per parent);
    a failed one raises _Irregular, a read past the end struct.error."""
    tree, table, system = _empty_tree()
    acl_of = dict(acls)
    acl_of[OPEN_ACL_INDEX] = OPEN_ACL_UNSAFE  # the reserved index wins over a cache entry
    unpack_tail = _NODE_TAIL_NEXT.unpack_from
    unpack_int = _INT.unpack_from
    pack_stat = _DIGEST_STAT.pack
    crc32 = zlib.crc32
    new_node = restored_znode
    register = _register_owner
    # The root: path "" first.
    if _UINT.unpack_from(buf, pos)[0] != 0:
        raise _Irregular
    pos += 4
    plen = 0
    path = "/"
    pb = b""
    kids_of: dict[str, tuple[Znode, dict[str, None]]] = {}
    count = 0
    data_size = 0
    digest = 0
    # The current parent: children of one parent come one after another in a snapshot.
    # None for the root, whose children's paths ("/a") and bare names ("a") would both
    # split into ("", "a"): those always take the branch that checks for the "/".
    last: str | None = None
    kids: dict[str, None] = {}
    excluded = False
    # The path and data lengths of the node before this one: after three nodes of one
    # shape the next ones are tried as a run (`_decode_run`).
    prev_plen = prev_dlen = -1
    while True:
        (dlen,) = unpack_int(buf, pos)
        pos += 4
        if dlen > 0:
            data = buf[pos : pos + dlen]
            pos += dlen
            data_size += dlen
        elif dlen == 0:
            data = b""
        elif dlen == -1:
            data = None
        else:
            raise _Irregular
        (acl_index, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner, pzxid,
         next_plen) = unpack_tail(buf, pos)
        pos += 72
        table[path] = new_node(data, acl_of[acl_index], czxid, mzxid, ctime, mtime, version, cversion, aversion,
                               owner, pzxid)
        count += 1
        if not excluded:
            stat = pack_stat(czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion, owner)
            digest += crc32(pb + data + stat) if dlen > 0 else crc32(pb + stat)  # type: ignore[operator]
        if owner and count > 1:
            register(tree, path, owner)
        if (next_plen == plen == prev_plen and dlen == prev_dlen and plen > 1 and dlen >= 0 and last is not None
                and unpack_int(buf, pos + plen)[0] == dlen):
            n, run_digest = _decode_run(buf, pos - 4, plen, dlen, last + "/", excluded, acl_of, table, kids, tree)
            if n:
                count += n
                digest += run_digest
                data_size += n * dlen
                pos += n * (plen + dlen + 76) - 4
                (next_plen,) = _UINT.unpack_from(buf, pos)
                pos += 4
        prev_plen = plen
        prev_dlen = dlen
        # The next node's path.
        plen = next_plen
        end = pos + plen
        pb = buf[pos:end]
        if plen == 1 and pb == b"/":
            pos = end
            break
        path = pb.decode("utf-8")
        pos = end
        ppath, slash, name = path.rpartition("/")
        if ppath != last:
            # A new parent. A path that does not start with "/" finds none (every key
            # in the table does); one that ends with "/" leaves an empty name, found below.
            if not slash:
                raise _Irregular
            key = ppath or "/"
            entry = kids_of.get(key)
            if entry is None:
                parent = table.get(key)
                if parent is None:
                    raise _Irregular
                entry = kids_of[key] = (parent, {})
            kids = entry[1]
            last = ppath or None
            excluded = ppath == ZOOKEEPER or ppath.startswith(EXCLUDED_PREFIX)
        kids[name] = None
    if len(table) != count:
        raise _Irregular  # a path appeared twice
    for parent, names in kids_of.values():
        if "" in names:
            raise _Irregular  # a path ended with "/"
        parent.set_children(names)
    tree.approximate_data_size = sum(map(len, table)) + data_size
    digest += _complete(tree, table, system, zxid)
    return tree, pos, digest


def _decode_run(buf: Any, start: int, plen: int, dlen: int, prefix: str, excluded: bool, acl_of: dict[int, list[ACL]],
                table: dict[str, Znode], kids: dict[str, None], tree: DataTree) -> tuple[int, int]:
    """Read the nodes at `start` that have this path length and data length (>= 0) and
    are children of the node whose path + "/" is `prefix`, as the loop in
    _decode_tree_fast would, but a batch at a time with one precompiled struct and
    C-level maps. Returns how many were read (0 or more; the caller goes on after them)
    and their digest. Sibling znodes of one shape are common (sequential names, equal
    data) and this halves their cost."""
    fmt = _run_struct(plen, dlen)
    size = fmt.size
    cut = len(prefix)
    total = 0
    digest = 0
    batch = 16  # grows: a run that ends early costs little
    with memoryview(buf) as whole, whole[start : start + (len(buf) - start) // size * size] as part:
        records = fmt.iter_unpack(part)
        try:
            while True:
                got = list(islice(records, batch))
                if not got:
                    break
                cols = list(zip(*got))
                m = len(got)
                if cols[0].count(plen) != m or cols[2].count(dlen) != m:
                    m = next(i for i in range(m) if cols[0][i] != plen or cols[2][i] != dlen)
                paths = list(map(bytes.decode, cols[1][:m]))
                names = list(map(operator.itemgetter(slice(cut, None)), paths))
                if not all(map(operator.methodcaller("startswith", prefix), paths)) or "/" in "".join(names):
                    m = next(i for i in range(m) if not paths[i].startswith(prefix) or "/" in names[i])
                    del paths[m:], names[m:]
                if m < len(got):
                    cols = [c[:m] for c in cols]
                if not m:
                    break
                (_, pbs, _, datas, acl_indexes, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner,
                 pzxid) = cols
                table.update(zip(paths, map(restored_znode, datas, map(acl_of.__getitem__, acl_indexes), czxid, mzxid,
                                            ctime, mtime, version, cversion, aversion, owner, pzxid)))
                kids.update(dict.fromkeys(names))
                if not excluded:
                    stats = map(_DIGEST_STAT.pack, czxid, mzxid, pzxid, ctime, mtime, version, cversion, aversion,
                                owner)
                    digest += sum(map(zlib.crc32, map(b"".join, zip(pbs, datas, stats))))
                if any(owner):
                    for p, o in zip(paths, owner):
                        if o:
                            _register_owner(tree, p, o)
                total += m
                if m < len(got):
                    break
                batch = min(batch * 2, 1024)
        finally:
            del records  # its hold on `part`, which must be released
    return total, digest


@functools.lru_cache(maxsize=256)
def _run_struct(plen: int, dlen: int) -> struct.Struct:
    """One whole node record (path length, path, data length, data, DataNode tail)."""
    return struct.Struct(f">I{plen}si{dlen}sqqqqqiiiqq")


def _empty_tree() -> tuple[DataTree, dict[str, Znode], dict[str, Znode]]:
    """A DataTree without any node, and the system nodes a fresh one would have."""
    tree = DataTree()
    system = dict(tree.nodes)
    tree.nodes.clear()
    tree.ephemerals.clear()
    tree.containers.clear()
    tree.ttls.clear()
    tree.approximate_data_size = 0
    return tree, tree.nodes, system


def _complete(tree: DataTree, table: dict[str, Znode], system: dict[str, Znode], zxid: int) -> int:
    """Add the system nodes the snapshot lacks (old ZooKeeper versions had no
    /zookeeper/config) and set the zxid; returns the digest of the nodes added."""
    added = 0
    for path in (ZOOKEEPER, QUOTA, CONFIG):
        if path not in table:
            node = system[path]
            node.children.clear()
            table[parent_of(path)].add_child(basename(path))
            table[path] = node
            tree.approximate_data_size += len(path) + (len(node.data) if node.data else 0)
            added += node_digest(path, node)
    tree.last_processed_zxid = zxid
    return added


def build_tree(nodes: Iterator[RawNode], acls: dict[int, list[ACL]], zxid: int) -> DataTree:
    """A DataTree holding exactly the snapshot's nodes, registered as DataTree itself
    registers created nodes (ephemerals, containers, TTLs, approximate data size)."""
    tree, table, system = _empty_tree()
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
    _complete(tree, table, system, zxid)
    return tree
