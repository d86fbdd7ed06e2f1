"""The snapshot a ZAB leader streams to a learner after a SNAP packet.

LearnerHandler sends `ZKDatabase.serializeSnapshot(oa)` (SerializeUtils.serializeSnapshot)
and then `oa.writeString("BenWasHere", "signature")`:

    int count, count x {long session id, int timeout}
    int count, count x {long acl index, vector<ACL>}      the ACL cache
    per znode, parents first: ustring path, DataNode      as in a snapshot file
    ustring "/"                                           end of the nodes
    ustring "BenWasHere"

That is a snapshot file's body without its FileHeader, its Adler32 seal(s) and its
digest (ZooKeeper 3.8 sends no digest here), so the snapshot file codec does the work.
The zxid is not in the stream: it is the SNAP packet's, and the learner sets it.

On the quorum port the stream follows the SNAP QuorumPacket (whose data is null) with
no length prefix, and more packets follow it; `SnapshotStreamScanner` finds its end in
bytes that arrive piecemeal.
"""

from __future__ import annotations

import struct

from ..tree.datatree import DataTree
from .errors import CorruptSnapshotError
from .format import FileHeader, FormatError
from .snapformat import SnapshotDecoder, decode_tree, encode_snapshot

SIGNATURE = "BenWasHere"
_SIGNATURE_BYTES = len(SIGNATURE).to_bytes(4, "big") + SIGNATURE.encode("ascii")
# A snapshot file without digest ends with its seal: long adler32 + ustring "/".
_SEAL_SIZE = 8 + 4 + 1
_INT = struct.Struct(">i")
_SESSION_SIZE = 12  # long id, int timeout
_NODE_TAIL_SIZE = 68  # DataNode after its data: long acl index, StatPersisted


def encode_snapshot_stream(tree: DataTree, sessions: dict[int, int]) -> bytes:
    """The bytes a leader streams after SNAP, signature included, for `tree` and `sessions`.

    Neither may change while this runs (ZooKeeper's leader serialises its live tree,
    fuzzily; the learner then replays the txns that follow the SNAP's zxid).
    """
    out = bytearray()
    encode_snapshot(tree, sessions, 0, out.extend, with_digest=False)
    del out[len(out) - _SEAL_SIZE:]
    del out[:FileHeader.SIZE]
    out += _SIGNATURE_BYTES
    return bytes(out)


def decode_snapshot_stream(data: bytes, zxid: int = 0) -> tuple[DataTree, dict[int, int]]:
    """The tree and sessions (id -> timeout ms) in a SNAP stream, checked as a snapshot
    file is (tree shape, ACL references) and for the signature at its end.

    `zxid` (the SNAP packet's) becomes the tree's last processed zxid. Raises
    CorruptSnapshotError for anything malformed, including bytes after the signature.
    """
    d = SnapshotDecoder(data)
    try:
        sessions = d.sessions()
        acls = d.acls()
        tree, _digest = decode_tree(d, acls, zxid)  # the fast reader; falls back to the checked one
    except FormatError as e:
        raise CorruptSnapshotError(None, f"snapshot stream: {e}") from None
    rest = bytes(data[d.pos:])
    if rest != _SIGNATURE_BYTES:
        if rest.startswith(_SIGNATURE_BYTES):
            raise CorruptSnapshotError(None, f"snapshot stream: {len(rest) - len(_SIGNATURE_BYTES)} bytes "
                                             f"after the signature")
        raise CorruptSnapshotError(None, f"snapshot stream: missing signature at offset {d.pos} "
                                         f"(found {rest[:16]!r})")
    return tree, sessions


class SnapshotStreamScanner:
    """Finds where a SNAP stream ends, without decoding it, in a buffer that grows.

    Call `end(buf)` whenever more bytes arrived in `buf` (the stream starting at
    `start`); it returns the offset just after the signature once all of it is there,
    else None. Work already done is kept, so the whole scan costs one pass. Impossible
    lengths raise CorruptSnapshotError; the full check is `decode_snapshot_stream`'s.
    """

    def __init__(self, start: int = 0) -> None:
        self.pos = start  # the start of the first unit not yet skipped
        self._section = 0  # 0: sessions, 1: ACL cache, 2: nodes, 3: signature
        self._left = -1  # ACL cache entries still to skip (-1: count not read yet)

    def end(self, buf: bytes | bytearray | memoryview) -> int | None:
        have = len(buf)
        if self._section == 0:  # int count, count x {long id, int timeout}
            n = _length(buf, self.pos, have, "session count")
            if n is None or self.pos + 4 + n * _SESSION_SIZE > have:
                return None
            self.pos += 4 + n * _SESSION_SIZE
            self._section = 1
        while self._section == 1:  # int count, count x {long index, int n, n x {int perms, 2 ustrings}}
            if self._left < 0:
                n = _length(buf, self.pos, have, "ACL cache size")
                if n is None:
                    return None
                self._left, self.pos = n, self.pos + 4
            if self._left == 0:
                self._section = 2
                break
            end = _acl_entry_end(buf, self.pos, have)
            if end is None:
                return None
            self.pos, self._left = end, self._left - 1
        while self._section == 2:  # ustring path, buffer data, the rest of the DataNode; "/" ends
            n = _length(buf, self.pos, have, "path length")
            if n is None or self.pos + 4 + n > have:
                return None
            if n == 1 and buf[self.pos + 4] == 0x2F:
                self.pos += 5
                self._section = 3
                break
            p = self.pos + 4 + n
            if p + 4 > have:
                return None
            data = int(_INT.unpack_from(buf, p)[0])
            if data < -1:  # -1: null data
                raise CorruptSnapshotError(None, f"snapshot stream: data length {data} at offset {p}")
            p += 4 + max(data, 0) + _NODE_TAIL_SIZE
            if p > have:
                return None
            self.pos = p
        end = self.pos + len(_SIGNATURE_BYTES)
        if end > have:
            return None
        if bytes(buf[self.pos:end]) != _SIGNATURE_BYTES:
            raise CorruptSnapshotError(None, f"snapshot stream: missing signature at offset {self.pos}")
        return end


def _length(buf: bytes | bytearray | memoryview, pos: int, have: int, what: str) -> int | None:
    if pos + 4 > have:
        return None
    n = int(_INT.unpack_from(buf, pos)[0])
    if n < 0:
        raise CorruptSnapshotError(None, f"snapshot stream: negative {what} {n} at offset {pos}")
    return n


def _acl_entry_end(buf: bytes | bytearray | memoryview, pos: int, have: int) -> int | None:
    """After long index, int count, count x {int perms, ustring scheme, ustring id}."""
    n = _length(buf, pos + 8, have, "ACL count")
    if n is None:
        return None
    end = pos + 12
    for _ in range(n):
        skipped = _skip_strings(buf, end + 4, have, 2)
        if skipped is None:
            return None
        end = skipped
    return end


def _skip_strings(buf: bytes | bytearray | memoryview, pos: int, have: int, count: int) -> int | None:
    for _ in range(count):
        n = _length(buf, pos, have, "string length")
        if n is None:
            return None
        pos += 4 + n
    return pos if pos <= have else None
