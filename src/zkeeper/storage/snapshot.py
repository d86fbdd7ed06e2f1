"""Snapshot files: write one atomically, load one (checked), list and validate them."""

from __future__ import annotations

import gzip
import logging
import mmap
import os
from pathlib import Path
from typing import Any, NamedTuple

from ..tree.datatree import DataTree
from .digest import ZxidDigest
from .errors import CorruptSnapshotError, SnapshotWriteError
from .files import fsync_dir, fsync_file, version_dir
from .format import SNAP_PREFIX, FormatError, snapshot_name, zxid_from_name
from .snapformat import SnapshotDecoder, decode_tree, encode_snapshot

log = logging.getLogger("zkeeper.storage.snapshot")

_TAIL = (1).to_bytes(4, "big") + b"/"  # every complete snapshot ends with ustring "/"
_GZIP_MAGIC = b"\x1f\x8b"


class LoadedSnapshot(NamedTuple):
    tree: DataTree
    sessions: dict[int, int]  # session id -> timeout (ms)
    zxid: int  # from the file name, as ZooKeeper takes it
    digest: ZxidDigest | None  # the trailer digest, if the writer stored one
    # The digest of `tree` as loaded (unwrapped sum, see digest.py), when the loader
    # computed it on the way; None: compute it from the tree if needed.
    tree_digest: int | None = None


def write_snapshot(tree: DataTree, sessions: dict[int, int], zxid: int, data_dir: str | os.PathLike[str], *,
                   fsync: bool = True, with_digest: bool = True) -> Path:
    """Write `dataDir/version-2/snapshot.<zxid>` so that it appears complete or not at all.

    The bytes go to a temporary name (one ZooKeeper does not take for a snapshot), are
    fsynced, and then renamed into place; the directory is fsynced so the rename holds.
    `tree` and `sessions` must not change while this runs.
    """
    directory = version_dir(data_dir, create=True)
    final = directory / snapshot_name(zxid)
    tmp = directory / f".{final.name}.tmp"
    try:
        with open(tmp, "wb", buffering=1 << 20) as f:
            encode_snapshot(tree, sessions, zxid, f.write, with_digest=with_digest)
            f.flush()
            if fsync:
                fsync_file(f.fileno())
        os.replace(tmp, final)
        if fsync:
            fsync_dir(directory)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SnapshotWriteError(final, f"writing snapshot failed: {e.strerror or e}", e.errno) from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("Snapshotting: 0x%x to %s", zxid, final)
    return final


def is_valid_snapshot(path: Path) -> bool:
    """ZooKeeper's cheap check (SnapStream.isValidSnapshot): a parseable name and a
    complete tail. A file cut short by a crash fails it; the full load checks the rest."""
    if zxid_from_name(path.name, SNAP_PREFIX) < 0:
        return False
    try:
        with open(path, "rb") as f:
            if path.name.endswith(".gz"):
                return f.read(2) == _GZIP_MAGIC
            size = os.fstat(f.fileno()).st_size
            if size < 10:
                return False
            f.seek(size - 5)
            return f.read(5) == _TAIL
    except OSError:
        return False


def load_snapshot(path: str | os.PathLike[str]) -> LoadedSnapshot:
    """Load and verify one snapshot file (checksums, tree shape). Raises CorruptSnapshotError."""
    p = Path(path)
    zxid = zxid_from_name(p.name, SNAP_PREFIX)
    if zxid < 0:
        raise CorruptSnapshotError(p, "not a snapshot file name (snapshot.<hex zxid>)")
    try:
        with open(p, "rb") as f:
            if p.name.endswith(".gz"):
                return _decode(p, gzip.decompress(f.read()), zxid)
            if os.fstat(f.fileno()).st_size == 0:
                raise CorruptSnapshotError(p, "empty file")
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                return _decode(p, m, zxid)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise CorruptSnapshotError(p, f"cannot read: {e}") from e


def _decode(path: Path, buf: Any, zxid: int) -> LoadedSnapshot:
    d = SnapshotDecoder(buf)
    try:
        d.header()
        sessions = d.sessions()
        acls = d.acls()
        tree, tree_digest = decode_tree(d, acls, zxid)
        digest = d.trailer()
    except FormatError as e:
        raise CorruptSnapshotError(path, str(e)) from None
    return LoadedSnapshot(tree, sessions, zxid, digest, tree_digest)
