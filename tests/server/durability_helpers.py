"""Helpers for the durability tests on real server processes.

Clients are plain kazoo (plus two raw requests kazoo has no API for: containers and TTL
nodes). What a server serves is read node by node over the wire; what it logged is read
with zkeeper's own storage reader, so that the tests can compare the two.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl

from zkeeper.storage import LogReader, is_valid_snapshot
from zkeeper.storage.files import log_files, snapshot_files, version_dir
from zkeeper.storage.format import Scan

from tests.support.kazoo_raw import CreateContainer, CreateTTL, call
from tests.support.servers import RunningServer, four_letter

DIGEST_USER = ("user", "pw")
OPEN = OPEN_ACL_UNSAFE


# ---- kazoo ----------------------------------------------------------------------------


def client(server: RunningServer, *, timeout: float = 10.0, auth: bool = True, persistent: bool = False) -> KazooClient:
    """A started kazoo client. `persistent` keeps reconnecting quickly (and forever) when the
    server goes away, so its session can resume on a restarted server; otherwise a lost
    connection is given up after a short while."""
    if persistent:
        retry = KazooRetry(max_tries=-1, delay=0.05, backoff=1.3, max_delay=0.5)
    else:
        retry = KazooRetry(max_tries=2, delay=0.05, backoff=1, max_delay=0.1)
    zk = KazooClient(hosts=server.hosts, timeout=timeout, connection_retry=retry, command_retry=None)
    zk.start(timeout=15)
    if auth:
        zk.add_auth("digest", ":".join(DIGEST_USER))
    return zk


def close_quietly(*clients: KazooClient | None) -> None:
    for zk in clients:
        if zk is None:
            continue
        try:
            zk.stop()
            zk.close()
        except Exception:  # noqa: BLE001 - cleanup of a client whose server may be gone
            pass


def wait_connected(zk: KazooClient, session_id: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if zk.connected and zk.client_id is not None and zk.client_id[0] == session_id:
            try:
                zk.exists("/")
                return
            except Exception:  # noqa: BLE001 - still reconnecting
                pass
        time.sleep(0.05)
    raise AssertionError(f"session 0x{session_id:x} did not resume within {timeout}s (state {zk.state})")


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ---- the served tree -------------------------------------------------------------------

StatTuple = tuple[int, int, int, int, int, int, int, int, int, int, int]
Served = dict[str, tuple[bytes, StatTuple, list[tuple[int, str, str]], list[str]]]

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeralOwner",
               "dataLength", "numChildren", "pzxid")


def stat_tuple(st: Any) -> StatTuple:
    return tuple(getattr(st, f) for f in STAT_FIELDS)  # type: ignore[return-value]


def read_served_tree(zk: KazooClient, root: str = "/") -> Served:
    """Every node under `root`: data, every Stat field, ACL and the set of children."""
    out: Served = {}
    stack = [root]
    while stack:
        path = stack.pop()
        data, st = zk.get(path)
        acls, _ = zk.get_acls(path)
        children = sorted(zk.get_children(path))
        out[path] = (data, stat_tuple(st), [(a.perms, a.id.scheme, a.id.id) for a in acls], children)
        prefix = "/" if path == "/" else path + "/"
        stack.extend(prefix + c for c in children)
    return out


def diff_served(before: Served, after: Served, limit: int = 20) -> list[str]:
    """Human-readable differences between two served trees (empty when identical)."""
    out = []
    for p in sorted(set(before) - set(after)):
        out.append(f"{p}: missing")
    for p in sorted(set(after) - set(before)):
        out.append(f"{p}: unexpected node")
    for p in sorted(set(before) & set(after)):
        b, a = before[p], after[p]
        if b[0] != a[0]:
            out.append(f"{p}: data {b[0][:40]!r} != {a[0][:40]!r}")
        for name, x, y in zip(STAT_FIELDS, b[1], a[1]):
            if x != y:
                out.append(f"{p}: stat.{name} {x:#x} != {y:#x}")
        if b[2] != a[2]:
            out.append(f"{p}: acl {b[2]} != {a[2]}")
        if b[3] != a[3]:
            out.append(f"{p}: children {b[3]} != {a[3]}")
    return out[:limit] + ([f"... {len(out) - limit} more"] if len(out) > limit else [])


def served_zxid(server: RunningServer) -> int:
    """The server's last processed zxid, from `srvr`."""
    for line in four_letter(server.port, "srvr").splitlines():
        if line.startswith("Zxid:"):
            return int(line.split(":", 1)[1].strip(), 16)
    raise AssertionError("srvr has no Zxid line")


# ---- a data set with every kind of node --------------------------------------------------


def build_dataset(zk: KazooClient) -> None:
    """Persistent, sequential, ephemeral (of `zk`'s session), container, TTL and digest-ACL
    nodes, with sets, ACL changes, deletes and a multi, so every Stat field moves."""
    user_all = make_digest_acl(*DIGEST_USER, all=True)
    user_rw = make_digest_acl(*DIGEST_USER, read=True, write=True)
    world_read = make_acl("world", "anyone", read=True)
    zk.create("/app", b"root of app")
    zk.create("/app/config", b"v0")
    zk.create("/app/eph", b"ephemeral", ephemeral=True)
    for i in range(3):
        zk.create("/app/seq-", f"s{i}".encode(), sequence=True)
    zk.create("/app/eseq-", b"", ephemeral=True, sequence=True)
    call(zk, CreateContainer("/box", b"c", OPEN, 4))
    zk.create("/box/item", b"1")
    call(zk, CreateContainer("/empty-box", b"", OPEN, 4))
    call(zk, CreateTTL("/ttl", b"lives long", OPEN, 5, 3_600_000))
    call(zk, CreateTTL("/ttl-seq-", b"", OPEN, 6, 3_600_000))
    zk.create("/secure", b"secret", acl=[user_all])
    zk.create("/secure/child", b"rw", acl=[user_rw, world_read])
    zk.set("/app/config", b"v1")
    zk.set("/app/config", b"v2", version=1)
    zk.create("/gone", b"short-lived")
    zk.delete("/gone")
    t = zk.transaction()
    t.create("/multi", b"m")
    t.create("/multi/child", b"c")
    t.set_data("/app/config", b"v3")
    t.check("/app/config", 3)
    assert not any(isinstance(r, Exception) for r in t.commit())
    zk.create("/utf8-\u00f1-\u2713", "d\u00e4t\u00e4".encode())
    zk.create("/big", bytes(range(256)) * 400)
    zk.set_acls("/app", [user_all, world_read])
    zk.set_acls("/multi", [user_rw, world_read])


# ---- the txn logs ------------------------------------------------------------------------


@dataclass
class LoggedTxn:
    zxid: int
    type: int
    path: str | None  # for creates, the created path
    file: Path
    offset: int
    end: int


@dataclass
class LogScan:
    txns: dict[int, LoggedTxn] = field(default_factory=dict)
    files: list[tuple[Path, list[LoggedTxn]]] = field(default_factory=list)
    snapshots: list[int] = field(default_factory=list)  # zxids of the valid snapshots, oldest first
    problems: list[str] = field(default_factory=list)

    @property
    def last_zxid(self) -> int:
        return max(self.txns, default=0)


def scan_logs(snap_base: Path, log_base: Path | None = None, *, torn_tail_ok: bool = True) -> LogScan:
    """Read every log with the storage reader and check the zxid sequence: strictly
    consecutive within and across files, with no repeats; a gap between files is only
    accepted where a valid snapshot covers it exactly (the next file starts right after
    it). Every file must be named after its first zxid and end cleanly (records, then only
    zeros); the newest may have a torn tail if `torn_tail_ok` (as a SIGKILL can leave)."""
    out = LogScan()
    snap_dir = version_dir(snap_base)
    log_dir = version_dir(log_base if log_base is not None else snap_base)
    out.snapshots = sorted(z for z, p in snapshot_files(snap_dir) if is_valid_snapshot(p))
    files = log_files(log_dir)
    prev: int | None = None
    for i, (name_zxid, path) in enumerate(files):
        records: list[LoggedTxn] = []
        with LogReader(path) as reader:
            for rec in reader.records():
                entry = rec.decode()
                txn_path = getattr(entry.txn, "path", None)
                records.append(LoggedTxn(rec.zxid, entry.hdr.type, txn_path, path, rec.offset, rec.end))
            stop = reader.stop
            clean = not reader.blank and stop.status is Scan.END and reader.last_nonzero(stop.offset) == stop.offset
            if not clean and not reader.blank and not (torn_tail_ok and i == len(files) - 1):
                out.problems.append(f"{path.name}: does not end cleanly: {stop.status.name} at offset {stop.offset} "
                                    f"({stop.reason}), file size {reader.size}")
        out.files.append((path, records))
        if records and records[0].zxid != name_zxid:
            out.problems.append(f"{path.name}: first txn is 0x{records[0].zxid:x}, not the zxid in its name")
        for r in records:
            if prev is not None and r.zxid != prev + 1:
                if r.zxid <= prev:
                    out.problems.append(f"{path.name}@{r.offset}: zxid 0x{r.zxid:x} repeats or goes back "
                                        f"(previous 0x{prev:x})")
                elif not (r is records[0] and (r.zxid - 1) in out.snapshots):
                    out.problems.append(f"{path.name}@{r.offset}: hole: zxid 0x{r.zxid:x} follows 0x{prev:x}")
            if r.zxid in out.txns:
                out.problems.append(f"zxid 0x{r.zxid:x} logged twice ({out.txns[r.zxid].file.name}, {path.name})")
            out.txns[r.zxid] = r
            prev = r.zxid
    if out.txns:
        first = min(out.txns)
        # Recovery from every kept snapshot must find the txns that follow it, and no
        # snapshot may claim a txn the logs never had.
        if out.snapshots and first > out.snapshots[0] + 1:
            out.problems.append(f"logs start at 0x{first:x}, after the oldest snapshot 0x{out.snapshots[0]:x}")
        if out.snapshots and out.snapshots[-1] > out.last_zxid:
            out.problems.append(f"snapshot 0x{out.snapshots[-1]:x} is newer than the last logged txn "
                                f"0x{out.last_zxid:x}")
    return out
