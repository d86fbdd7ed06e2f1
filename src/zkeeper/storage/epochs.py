"""The quorum peer's `acceptedEpoch` and `currentEpoch` files.

As ZooKeeper's QuorumPeer (readLongFromFile / writeLongToFile), each lives in the
snapshot directory (`dataDir/version-2`) and holds the epoch as decimal text without a
newline (`Long.toString`). A write goes to `<name>.tmp`, is fsynced and renamed over the
file (AtomicFileOutputStream); we also fsync the directory so the rename holds.

The temporary name is ZooKeeper's own: after a crash between the fsync and the rename,
ZooKeeper's loadDataBase reads `currentEpoch.tmp` when the logged zxids are of a newer
epoch than `currentEpoch`, and `read_epoch(data_dir, CURRENT_EPOCH + TMP_SUFFIX)` allows
the same.
"""

from __future__ import annotations

import os
import re

from .errors import StorageError
from .files import fsync_dir, fsync_file, version_dir

ACCEPTED_EPOCH = "acceptedEpoch"  # QuorumPeer.ACCEPTED_EPOCH_FILENAME
CURRENT_EPOCH = "currentEpoch"  # QuorumPeer.CURRENT_EPOCH_FILENAME
TMP_SUFFIX = ".tmp"  # AtomicFileOutputStream.TMP_EXTENSION

# Long.parseLong: an optional sign and decimal digits, nothing else (no blanks).
_JAVA_LONG = re.compile(r"[+-]?[0-9]+")
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")


def read_epoch(data_dir: str | os.PathLike[str], name: str) -> int | None:
    """The epoch stored in `dataDir/version-2/<name>`, or None if there is no such file.

    Reads as ZooKeeper does: the first line (ended by \\n, \\r or \\r\\n, or the end of
    the file), parsed as a Java long. Anything else raises StorageError naming the file.
    """
    _check_name(name)
    path = version_dir(data_dir) / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StorageError(f"{path}: cannot read epoch file: {e.strerror or e}") from e
    line = re.split(rb"\r\n|\r|\n", raw, maxsplit=1)[0]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    value = int(text) if _JAVA_LONG.fullmatch(text) else None
    if value is None or not _LONG_MIN <= value <= _LONG_MAX:
        found = "an empty file" if not raw else repr(line.decode("utf-8", "replace"))
        raise StorageError(f"{path}: corrupt epoch file: expected a decimal number, found {found}")
    return value


def write_epoch(data_dir: str | os.PathLike[str], name: str, value: int) -> None:
    """Store `value` in `dataDir/version-2/<name>` atomically and durably.

    The file never holds anything but a whole value: the old one until the rename, the
    new one after it. If this raises (StorageError), the new value may or may not have
    replaced the old one, and no temporary file is left behind.
    """
    _check_name(name)
    if isinstance(value, bool) or not isinstance(value, int) or not _LONG_MIN <= value <= _LONG_MAX:
        raise ValueError(f"an epoch must be a 64-bit integer, got {value!r}")
    directory = version_dir(data_dir, create=True)
    final = directory / name
    tmp = directory / (name + TMP_SUFFIX)
    data = str(value).encode("ascii")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            fsync_file(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        fsync_dir(directory)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise StorageError(f"{final}: writing epoch {value} failed: {e.strerror or e}") from e
