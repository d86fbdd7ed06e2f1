"""ZooKeeper's tree digest (3.6+): lets a reader check a replayed tree against the writer's.

Each znode hashes to CRC32(path bytes, data, 60 bytes of persisted stat) and the tree
digest is the 64-bit wrapping sum of those (DigestCalculator + AdHash), skipping
everything under "/zookeeper/" (ZooKeeper updates quota nodes locally, so it leaves
them out). The root hashes with path "" because ZooKeeper keys it that way.

ZooKeeper writes the digest after each txn into the log and into the snapshot trailer,
and compares it while replaying; we compute the same value to check our replay and to
let ZooKeeper check the snapshots we write.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Iterable

from ..tree.datatree import DataTree
from ..tree.znode import Znode

EXCLUDED_PREFIX = "/zookeeper/"
_STAT = struct.Struct(">qqqqqiiiq")  # czxid mzxid pzxid ctime mtime version cversion aversion owner
_MASK64 = (1 << 64) - 1


def to_signed64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >> 63 else v


def node_digest(path: str, node: Znode) -> int:
    if path.startswith(EXCLUDED_PREFIX):
        return 0
    key = b"" if path == "/" else path.encode("utf-8")
    crc = zlib.crc32(key)
    if node.data:
        crc = zlib.crc32(node.data, crc)
    crc = zlib.crc32(
        _STAT.pack(node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime,
                   node.version, node.cversion, node.aversion, node.ephemeral_owner),
        crc,
    )
    return crc


def tree_digest(tree: DataTree) -> int:
    """The digest of the whole tree as a signed 64-bit value (TxnDigest.treeDigest)."""
    return to_signed64(sum(node_digest(p, n) for p, n in tree.nodes.items()))


def paths_digest(tree: DataTree, paths: Iterable[str]) -> int:
    """Sum of the digests of those of `paths` that exist (unwrapped)."""
    nodes = tree.nodes
    total = 0
    for p in paths:
        n = nodes.get(p)
        if n is not None:
            total += node_digest(p, n)
    return total


@dataclass(frozen=True, slots=True)
class ZxidDigest:
    """The snapshot trailer: the digest of the tree as of `zxid` (DataTree.ZxidDigest)."""

    zxid: int
    version: int
    digest: int
