"""ZooKeeper path rules (`PathUtils.validatePath`) and path arithmetic.

A valid path is absolute, has no empty, "." or ".." segment, no trailing slash (except
"/"), and none of the characters ZooKeeper forbids.
"""

from __future__ import annotations

import re

from .errors import Code, KeeperError


def _is_forbidden(c: str) -> bool:
    o = ord(c)
    return (
        o == 0
        or 0x0001 <= o <= 0x001F
        or 0x007F <= o <= 0x009F
        or 0xD800 <= o <= 0xF8FF
        or 0xFFF0 <= o <= 0xFFFF
    )


# Paths made only of non-empty segments of allowed characters, with no segment
# starting with "." (so no "." or ".."): the common case, accepted at regex speed.
_PLAIN = re.compile("(?:/[^/\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\uffff.][^/\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\uffff]*)+")


def path_problem(path: str | None, sequential: bool = False) -> str | None:
    """Why `path` is not a valid znode path, or None when it is.

    With `sequential`, the path may end with "/" because the server appends the counter.
    """
    if path is not None and not sequential and _PLAIN.fullmatch(path):
        return None
    if path is None:
        return "Path cannot be null"
    if sequential:
        path = path + "1"
    if len(path) == 0:
        return "Path length must be > 0"
    if path[0] != "/":
        return "Path must start with / character"
    if len(path) == 1:
        return None
    if path[-1] == "/":
        return "Path must not end with / character"
    prev = "/"
    for i in range(1, len(path)):
        c = path[i]
        if c == "\0":
            return f"null character not allowed @{i}"
        if c == "/" and prev == "/":
            return f"empty node name specified @{i}"
        if c == "." and prev == "." and path[i - 2] == "/" and (i + 1 == len(path) or path[i + 1] == "/"):
            return f"relative paths not allowed @{i}"
        if c == "." and path[i - 1] == "/" and (i + 1 == len(path) or path[i + 1] == "/"):
            return f"relative paths not allowed @{i}"
        if _is_forbidden(c):
            return f"invalid character @{i}"
        prev = c
    return None


def validate_path(path: str | None, sequential: bool = False) -> str:
    """Return `path` if valid, else raise BADARGUMENTS."""
    if path_problem(path, sequential) is not None:
        raise KeeperError(Code.BADARGUMENTS, path)
    assert path is not None
    return path


def parent_of(path: str) -> str:
    """The parent path; "/" for top-level nodes. `path` must not be "/"."""
    i = path.rfind("/")
    return path[:i] if i > 0 else "/"


def basename(path: str) -> str:
    return path[path.rfind("/") + 1 :]


def join(parent: str, child: str) -> str:
    return "/" + child if parent == "/" else parent + "/" + child
