"""Durability of the standalone server, on real processes, real files and real fsync.

1. A restart (SIGTERM or SIGKILL) keeps every node, byte, Stat field, ACL and live
   session; sequence numbers and zxids carry on from where they were.
2. SIGKILL at random moments under a pipelined write load never loses an acknowledged
   write, and the logs hold one gap-free, repeat-free zxid sequence.
3. A torn or zero-filled log tail is cut back at start; the server serves exactly the
   surviving prefix and takes new writes.
4. Damage in the middle of a log stops the server with the file and offset named.
5. Apache ZooKeeper and zkeeper start on each other's data and serve the same tree.
6. A full log device fails writes (connection loss) but not reads; once space is back,
   writes work again and nothing acknowledged is lost or half-written.
7. Purging old snapshots and logs (keep 3) leaves a data dir the server restarts from.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Iterator

import pytest
from kazoo.exceptions import ConnectionLoss, KazooException
from kazoo.handlers.threading import KazooTimeoutError

from zkeeper.jute.records import CreateRequest
from zkeeper.storage import purge
from zkeeper.storage.files import log_files, snapshot_files, version_dir
from zkeeper.tree.acl import OPEN_ACL_UNSAFE as JUTE_OPEN_ACL
from zkeeper.tree.acl import generate_digest
from zkeeper.types import CreateMode, OpCode

from tests.support.servers import (
    REPO_ROOT, RunningServer, reference_available, restart_server, start_reference, start_zkeeper,
)
from tests.support.wire import WireClient

from .durability_helpers import (
    LogScan, build_dataset, client, close_quietly, diff_served, read_served_tree, scan_logs, served_zxid,
    wait_connected, wait_until,
)

pytestmark = pytest.mark.timeout(120)

SEED = int(os.environ.get("ZKEEPER_DURABILITY_SEED", "20240611"))
# Keep the container reaper out of the way: the tests compare trees over many seconds.
NO_REAPER = {"znode.container.checkIntervalMs": "3600000"}
REF_JVM_FLAGS = ("-Dznode.container.checkIntervalMs=3600000", "-Dzookeeper.snapCount=40")


@pytest.fixture
def procs() -> Iterator[list[RunningServer]]:
    """Every server a test starts goes in here; all are SIGKILLed (if still running) after."""
    started: list[RunningServer] = []
    yield started
    for s in started:
        s.kill()


@pytest.fixture
def clients() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    close_quietly(*made)


def _restart(server: RunningServer, procs: list[RunningServer], **kw: Any) -> RunningServer:
    again = restart_server(server, **kw)
    procs.append(again)
    return again


# ---- pipelined writes and their acknowledgements --------------------------------------------


def pipelined_creates(zk: Any, server: RunningServer, parent: str, *, kill_after: float | None,
                      rng: random.Random, seq_parent: str | None = None, depth: int = 48,
                      max_seconds: float = 2.5) -> tuple[list[tuple[str, int]], int]:
    """Create nodes under `parent` as fast as a window of `depth` outstanding requests
    allows; with `kill_after`, SIGKILL the server that many seconds in. Returns the
    acknowledged (path, czxid) and how many requests got no acknowledgement."""
    timer = threading.Timer(kill_after, server.kill) if kill_after is not None else None
    pending: deque[tuple[str, Any]] = deque()
    acked: list[tuple[str, int]] = []
    unacked = 0
    started = time.monotonic()
    drain_deadline: float | None = None
    i = 0
    if timer is not None:
        timer.start()
    try:
        while True:
            while drain_deadline is None and len(pending) < depth:
                if time.monotonic() - started > max_seconds:
                    drain_deadline = time.monotonic() + 5.0
                    break
                data = rng.randbytes(rng.randrange(0, 300))
                if seq_parent is not None and rng.random() < 0.1:
                    path, seq = f"{seq_parent}/s-", True
                else:
                    path, seq = f"{parent}/n{i:06d}", False
                i += 1
                pending.append((path, zk.create_async(path, data, sequence=seq, include_data=True)))
            if not pending:
                break
            path, result = pending.popleft()
            wait = 10.0 if drain_deadline is None else max(0.01, drain_deadline - time.monotonic())
            try:
                real, stat = result.get(timeout=wait)
            except (KazooException, KazooTimeoutError):
                unacked += 1
                if drain_deadline is None:
                    drain_deadline = time.monotonic() + 5.0  # the server is gone: collect the rest
                continue
            acked.append((real, stat.czxid))
    finally:
        if timer is not None:
            timer.join()
    return acked, unacked


def verify_acked(zk: Any, acked: list[tuple[str, int]], chunk: int = 256) -> list[str]:
    """Every acknowledged create is served with the czxid it was acknowledged with."""
    problems = []
    for i in range(0, len(acked), chunk):
        part = acked[i:i + chunk]
        results = [zk.exists_async(p) for p, _ in part]
        for (path, czxid), r in zip(part, results):
            st = r.get(timeout=20)
            if st is None:
                problems.append(f"{path} (acknowledged with czxid {czxid:#x}) is missing")
            elif st.czxid != czxid:
                problems.append(f"{path}: czxid {st.czxid:#x}, acknowledged {czxid:#x}")
    return problems


def check_acked_in_logs(scan: LogScan, acked: list[tuple[str, int]]) -> list[str]:
    problems = []
    for path, czxid in acked:
        t = scan.txns.get(czxid)
        if t is None:
            problems.append(f"{path}: acknowledged czxid {czxid:#x} is in no log")
        elif t.path != path:
            problems.append(f"{path}: the log has {t.path!r} (type {t.type}) at {czxid:#x}")
    return problems


def expect_none(problems: list[str], what: str = "") -> None:
    """Fail with every listed problem (up to 25) spelled out, one per line."""
    if problems:
        head = f"{what}: " if what else ""
        lines = problems[:25] + ([f"... and {len(problems) - 25} more"] if len(problems) > 25 else [])
        raise AssertionError(head + f"{len(problems)} problem(s):\n  " + "\n  ".join(lines))


def _seq_number(path: str) -> int:
    return int(path.rsplit("-", 1)[1])


# ---- 1. restart keeps everything ---------------------------------------------------------


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_restart_keeps_every_node_stat_acl_and_session(tmp_path: Path, procs: list[RunningServer],
                                                      clients: list[Any], signal_name: str) -> None:
    server = start_zkeeper(tmp_path, extra=NO_REAPER)
    procs.append(server)
    zk = client(server, persistent=True)
    clients.append(zk)
    build_dataset(zk)
    sid = zk.client_id[0]
    # A session nobody resumes: its ephemeral outlives the restart, then expires with it.
    ghost = WireClient(server.port)
    try:
        assert ghost.connect(timeout_ms=4000).timeOut == 4000
        rep = ghost.call(OpCode.CREATE, CreateRequest("/ghost", b"g", list(JUTE_OPEN_ACL), CreateMode.EPHEMERAL))
        assert rep.header.err == 0
    finally:
        ghost.close()
    before = read_served_tree(zk)
    last = served_zxid(server)
    assert before["/app/eph"][1][7] == sid and before["/ghost"][1][7] != 0

    if signal_name == "SIGTERM":
        server.stop()
    else:
        server.kill()
    assert server.proc.returncode is not None
    server = _restart(server, procs)
    assert served_zxid(server) == last, "the restarted server does not resume at the last zxid"
    wait_connected(zk, sid)  # the same session, resumed within its timeout
    after = read_served_tree(zk)
    expect_none(diff_served(before, after))

    # Sequence numbers and zxids carry on: no number and no zxid is handed out twice.
    cversion = after["/app"][1][5]
    path = zk.create("/app/seq-", b"after restart", sequence=True)
    assert path == f"/app/seq-{cversion:010d}"
    assert zk.exists(path).czxid == last + 1
    assert zk.exists("/app/eph").ephemeralOwner == sid
    # The abandoned session was restored with its own timeout and expires after it.
    wait_until("the abandoned session's ephemeral to go", lambda: zk.exists("/ghost") is None, timeout=15)
    assert zk.exists("/app/eph") is not None

    # And once more on what the restarted server wrote itself.
    before = read_served_tree(zk)
    last = served_zxid(server)
    server.kill()
    server = _restart(server, procs)
    assert served_zxid(server) == last
    wait_connected(zk, sid)
    expect_none(diff_served(before, read_served_tree(zk)))
    scan = scan_logs(tmp_path / "data", torn_tail_ok=False)
    expect_none(scan.problems)
    assert scan.last_zxid == last


# ---- 2. SIGKILL under load ---------------------------------------------------------------


def test_sigkill_under_load_loses_no_acknowledged_write(tmp_path: Path, procs: list[RunningServer],
                                                        clients: list[Any]) -> None:
    rng = random.Random(SEED)
    data = tmp_path / "data"
    server = start_zkeeper(tmp_path, extra={**NO_REAPER, "snapCount": "100", "preAllocSize": "64"})
    procs.append(server)
    zk = client(server)
    zk.create("/crash")
    zk.create("/crash/seq")
    close_quietly(zk)

    acked: list[tuple[str, int]] = []
    seq_acked: list[str] = []
    rounds, unacked_total = 8, 0
    deadline = time.monotonic() + 75
    for rnd in range(rounds):
        assert time.monotonic() < deadline, f"round {rnd}: out of time"
        zk = client(server, timeout=4.0)
        clients.append(zk)
        zk.create(f"/crash/r{rnd}")
        kill_after = rng.uniform(0.3, 1.0)
        got, unacked = pipelined_creates(zk, server, f"/crash/r{rnd}", kill_after=kill_after, rng=rng,
                                         seq_parent="/crash/seq")
        unacked_total += unacked
        assert server.proc.returncode == -9, f"round {rnd}: the server was not killed by us"
        assert got, f"round {rnd}: no write was acknowledged in {kill_after:.2f}s"
        acked += got
        seq_acked += [p for p, _ in got if p.startswith("/crash/seq/")]
        close_quietly(zk)

        scan = scan_logs(data)
        expect_none(scan.problems, f"seed {SEED} round {rnd}: logs")
        expect_none(check_acked_in_logs(scan, acked), f"seed {SEED} round {rnd}")

        server = _restart(server, procs)
        assert served_zxid(server) == scan.last_zxid, f"round {rnd}: recovered to another zxid than logged"
        zk = client(server)
        clients.append(zk)
        missing = verify_acked(zk, acked)
        expect_none(missing, f"seed {SEED} round {rnd}: acknowledged writes lost after restart")
        # A new sequential node gets a number no acknowledged one had, zxids carry on.
        path, stat = zk.create("/crash/seq/s-", b"", sequence=True, include_data=True)
        assert all(_seq_number(path) > _seq_number(p) for p in seq_acked), path
        assert stat.czxid > scan.last_zxid
        acked.append((path, stat.czxid))
        seq_acked.append(path)
        close_quietly(zk)

    assert unacked_total > 0, "no kill ever caught a write in flight: the test did not test anything"
    assert len(list(version_dir(data).glob("snapshot.*"))) > rounds, "expected snapshots during the run"
    assert len(log_files(version_dir(data))) > rounds + 2, "expected log rolls during the run"
    server.stop()
    scan = scan_logs(data, torn_tail_ok=False)
    expect_none(scan.problems)
    expect_none(check_acked_in_logs(scan, acked))


# ---- 3. torn tail ------------------------------------------------------------------------


def test_torn_or_zeroed_log_tail_is_cut_and_the_prefix_served(tmp_path: Path, procs: list[RunningServer],
                                                               clients: list[Any]) -> None:
    rng = random.Random(SEED + 3)
    data = tmp_path / "data"
    server = start_zkeeper(tmp_path, extra={**NO_REAPER, "snapCount": "100", "preAllocSize": "64"})
    procs.append(server)
    zk = client(server)
    zk.create("/torn")
    close_quietly(zk)
    damaged = 0
    for rnd, mode in enumerate(["truncate", "zero", "truncate", "zero", "truncate"]):
        zk = client(server, timeout=4.0)
        clients.append(zk)
        zk.create(f"/torn/r{rnd}")
        pipelined_creates(zk, server, f"/torn/r{rnd}", kill_after=rng.uniform(0.3, 0.8), rng=rng)
        close_quietly(zk)
        assert server.proc.returncode == -9
        scan = scan_logs(data)
        expect_none(scan.problems, f"round {rnd}: logs")

        # Damage the tail of the newest log, past the newest snapshot (a snapshot that
        # already holds a txn would legitimately bring it back).
        newest_snap = scan.snapshots[-1]
        log_path, records = scan.files[-1]
        eligible = [r for r in records if r.zxid > newest_snap]
        survivor = scan.last_zxid
        cut: int | None = None
        if eligible:
            damaged += 1
            cut = rng.randrange(eligible[0].offset, eligible[-1].end)
            survivor = max((r.zxid for r in records if r.end <= cut), default=eligible[0].zxid - 1)
            data_end = eligible[-1].end
            if mode == "truncate":
                os.truncate(log_path, cut)
            else:
                with open(log_path, "r+b") as f:
                    f.seek(cut)
                    f.write(bytes(data_end - cut))
        boundaries = {r.offset for r in records} | {records[-1].end if records else 0}

        server = _restart(server, procs)
        out = server.log_path.read_text(errors="replace")
        if cut is not None and cut not in boundaries:
            torn_at = min(r.offset for r in records if r.end > cut)  # the record the cut went through
            assert "torn tail" in out and str(log_path) in out and f"offset {torn_at}" in out, out[-3000:]
        assert served_zxid(server) == survivor, f"round {rnd} ({mode} at {cut}): not the surviving prefix"
        zk = client(server)
        clients.append(zk)
        # Exactly the logged creates up to the survivor are served, each with its czxid.
        expected: dict[str, dict[str, int]] = {}
        for t in scan.txns.values():
            if t.path and t.path.startswith("/torn/r") and t.path.count("/") == 3 and t.zxid <= survivor:
                parent, name = t.path.rsplit("/", 1)
                expected.setdefault(parent, {})[name] = t.zxid
        for r in range(rnd + 1):
            parent = f"/torn/r{r}"
            if zk.exists(parent) is None:
                assert parent not in expected and all(t.zxid > survivor for t in scan.txns.values()
                                                      if t.path == parent), parent
                continue
            served = set(zk.get_children(parent))
            assert served == set(expected.get(parent, {})), \
                f"round {rnd}: {parent}: extra {sorted(served - set(expected.get(parent, {})))[:5]}, " \
                f"missing {sorted(set(expected.get(parent, {})) - served)[:5]}"
        current = [(f"/torn/r{rnd}/{n}", z) for n, z in expected.get(f"/torn/r{rnd}", {}).items()]
        expect_none(verify_acked(zk, current))
        # New writes are taken, after the survivor.
        _, stat = zk.create(f"/torn/after-{rnd}", b"", include_data=True)
        assert stat.czxid > survivor
        close_quietly(zk)
    assert damaged >= 3, "too few rounds had a tail to damage"
    server.stop()
    scan = scan_logs(data, torn_tail_ok=False)
    expect_none(scan.problems)


# ---- 4. mid-log corruption ---------------------------------------------------------------


@pytest.mark.parametrize("where", ["payload", "checksum"])
def test_corruption_in_the_middle_of_a_log_refuses_to_start(tmp_path: Path, procs: list[RunningServer],
                                                            clients: list[Any], where: str) -> None:
    rng = random.Random(SEED + 4)
    data = tmp_path / "data"
    server = start_zkeeper(tmp_path, extra={**NO_REAPER, "preAllocSize": "64"})
    procs.append(server)
    zk = client(server)
    clients.append(zk)
    zk.create("/mid")
    acked, _ = pipelined_creates(zk, server, "/mid", kill_after=None, rng=rng, max_seconds=0.3)
    assert len(acked) > 50
    close_quietly(zk)
    server.stop()
    scan = scan_logs(data, torn_tail_ok=False)
    expect_none(scan.problems)
    log_path, records = scan.files[-1]
    victim = records[len(records) // 2]
    assert len(records) - records.index(victim) > 2
    if where == "payload":
        pos = rng.randrange(victim.offset + 12, victim.end - 1)  # inside the checksummed entry
    else:
        pos = victim.offset + rng.randrange(0, 8)
    raw = bytearray(log_path.read_bytes())
    raw[pos] ^= 0x5A
    log_path.write_bytes(bytes(raw))
    digest = hashlib.sha256(raw).hexdigest()

    server = _restart(server, procs, wait=False)
    try:
        code = server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the server kept running on a log damaged at {log_path}:{pos}:\n{server.log_tail()}")
    out = server.log_path.read_text(errors="replace")
    assert code != 0, out[-2000:]
    assert str(log_path) in out and f"offset {victim.offset}" in out, out[-2000:]
    # Refusing must not "repair" anything: the damaged log is left exactly as it was.
    assert hashlib.sha256(log_path.read_bytes()).hexdigest() == digest


# ---- 5. interchange with Apache ZooKeeper ------------------------------------------------

needs_reference = pytest.mark.skipif(not reference_available(), reason="Apache ZooKeeper is not installed")


def _load(zk: Any, n: int = 120) -> None:
    zk.create("/load")
    for r in [zk.create_async(f"/load/n{i:03d}", str(i).encode()) for i in range(n)]:
        r.get(timeout=20)
    for r in [zk.set_async(f"/load/n{i:03d}", b"again") for i in range(0, n, 3)]:
        r.get(timeout=20)
    for r in [zk.delete_async(f"/load/n{i:03d}") for i in range(0, n, 7)]:
        r.get(timeout=20)


def _check_dataset(served: Any, sid: int) -> None:
    """The data set really has what the comparison is meant to cover."""
    owner = {p: v[1][7] for p, v in served.items()}
    assert owner["/app/eph"] == sid and owner["/ttl"] == 0 and owner["/box"] == 0
    assert any(p.startswith("/app/eseq-") and o == sid for p, o in owner.items())
    assert any(p.startswith("/ttl-seq-") for p in served)
    assert served["/secure"][2] == [(31, "digest", "user:" + generate_digest("user:pw").split(":", 1)[1])]
    assert len([p for p in served if p.startswith("/load/")]) == 120 - len(range(0, 120, 7))


@needs_reference
def test_zkeeper_serves_what_zookeeper_wrote(tmp_path: Path, procs: list[RunningServer], clients: list[Any]) -> None:
    ref = start_reference(tmp_path, jvm_flags=REF_JVM_FLAGS)
    procs.append(ref)
    zk = client(ref, timeout=20.0)
    clients.append(zk)
    build_dataset(zk)
    _load(zk)
    expected = read_served_tree(zk)
    _check_dataset(expected, zk.client_id[0])
    last = served_zxid(ref)
    ref.stop()  # our session stays open: its ephemerals are in the data
    written = version_dir(tmp_path / "data")
    assert len(snapshot_files(written)) >= 3 and len(log_files(written)) >= 3, "expected ZooKeeper to snapshot and roll"

    ours = start_zkeeper(tmp_path, extra=NO_REAPER)
    procs.append(ours)
    assert served_zxid(ours) == last
    reader = client(ours)
    clients.append(reader)
    expect_none(diff_served(expected, read_served_tree(reader)))
    _, stat = reader.create("/written-by-zkeeper", b"", include_data=True)
    assert stat.czxid > last
    ours.stop()
    scan = scan_logs(tmp_path / "data", torn_tail_ok=False)
    expect_none(scan.problems)
    assert stat.czxid in scan.txns


@needs_reference
def test_zookeeper_serves_what_zkeeper_wrote(tmp_path: Path, procs: list[RunningServer], clients: list[Any]) -> None:
    ours = start_zkeeper(tmp_path, extra={**NO_REAPER, "snapCount": "40", "preAllocSize": "64"})
    procs.append(ours)
    zk = client(ours, timeout=20.0)
    clients.append(zk)
    build_dataset(zk)
    _load(zk)
    expected = read_served_tree(zk)
    _check_dataset(expected, zk.client_id[0])
    last = served_zxid(ours)
    ours.stop()
    assert len(log_files(version_dir(tmp_path / "data"))) >= 3
    assert len(list(version_dir(tmp_path / "data").glob("snapshot.*"))) >= 3

    ref = start_reference(tmp_path, jvm_flags=REF_JVM_FLAGS)
    procs.append(ref)
    assert served_zxid(ref) == last
    reader = client(ref)
    clients.append(reader)
    expect_none(diff_served(expected, read_served_tree(reader)))
    _, stat = reader.create("/written-by-zookeeper", b"", include_data=True)
    assert stat.czxid > last
    ref.stop()
    scan = scan_logs(tmp_path / "data", torn_tail_ok=False)
    expect_none(scan.problems)
    assert stat.czxid in scan.txns


# ---- 6. disk full ------------------------------------------------------------------------


@pytest.fixture
def log_device(tmp_path: Path, procs: list[RunningServer], clients: list[Any]) -> Iterator[Any]:
    """mount(size, nr_inodes=None) -> a small tmpfs for dataLogDir. Teardown first kills
    this test's servers and clients (they hold files on it), then unmounts."""
    mounted: list[Path] = []

    def mount(size: str, nr_inodes: int | None = None) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs for the full-disk tests needs root (CAP_SYS_ADMIN)")
        where = tmp_path / f"logdev{len(mounted)}"
        where.mkdir()
        opts = f"size={size},mode=0755" + (f",nr_inodes={nr_inodes}" if nr_inodes else "")
        try:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
                               capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"cannot mount a tmpfs for the full-disk tests: {e}")
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs for the full-disk tests (mount not permitted here?): "
                        f"{r.stderr.strip() or r.returncode}")
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        close_quietly(*clients)
        clients.clear()
        for s in procs:
            s.kill()
        for where in mounted:
            r = subprocess.run(["umount", str(where)], capture_output=True, timeout=20)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=20)


def _fill(path: Path) -> int:
    """Write `path` until the device is full; returns the bytes written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    total = 0
    try:
        for chunk in (1 << 16, 4096, 512, 1):
            block = b"\xff" * chunk
            for _ in range(100_000):
                try:
                    n = os.write(fd, block)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                total += n
                if n < chunk:
                    break
    finally:
        os.close(fd)
    return total


def _use_up_inodes(directory: Path, limit: int = 10_000) -> list[Path]:
    made: list[Path] = []
    for i in range(limit):
        p = directory / f"inode-filler-{i}"
        try:
            p.touch()
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            return made
        made.append(p)
    raise AssertionError(f"created {limit} files without running out of inodes")


def _create(zk: Any, path: str, data: bytes = b"") -> tuple[str, int] | None:
    """(path, czxid) if acknowledged; None on connection loss (bounded wait)."""
    try:
        real, stat = zk.create_async(path, data, include_data=True).get(timeout=15)
    except ConnectionLoss:
        return None
    return real, stat.czxid


def _read(zk: Any, what: str, call: str, *args: Any) -> Any:
    try:
        return getattr(zk, call + "_async")(*args).get(timeout=8)
    except (KazooException, KazooTimeoutError) as e:
        raise AssertionError(f"read failed {what}: {call}{args} -> {e!r}") from None


class FullDevice:
    """One writer and one reader session on a server whose dataLogDir is a tiny tmpfs."""

    def __init__(self, tmp_path: Path, log_dir: Path, procs: list[RunningServer], clients: list[Any],
                 extra: dict[str, str] | None = None) -> None:
        self.tmp_path, self.log_dir, self.procs = tmp_path, log_dir, procs
        self.server = start_zkeeper(tmp_path, extra={**NO_REAPER, "dataLogDir": str(log_dir), "preAllocSize": "16",
                                                     **(extra or {})})
        procs.append(self.server)
        self.writer = client(self.server, persistent=True)
        self.reader = client(self.server, persistent=True)
        clients += [self.writer, self.reader]
        self.sessions = (self.writer.client_id[0], self.reader.client_id[0])
        self.acked: list[tuple[str, int]] = []
        self.failed: list[str] = []
        self.writer.create("/full")
        self.write_ok("a", 30)

    def write_ok(self, tag: str, n: int) -> None:
        for i in range(n):
            got = _create(self.writer, f"/full/{tag}-{i:03d}", b"o" * 600)
            assert got is not None, f"write {tag}-{i:03d} failed, but the log device has space"
            self.acked.append(got)

    def restart(self, how: str = "kill") -> None:
        self.server.kill() if how == "kill" else self.server.stop()
        self.server = _restart(self.server, self.procs)
        wait_connected(self.writer, self.sessions[0])
        wait_connected(self.reader, self.sessions[1])

    def writes_fail(self, tag: str, *, limit: int = 60) -> None:
        """Write until one fails (a few may still fit in the log's last page), then check
        that writing keeps failing, that reads keep working and the server stays up."""
        for i in range(limit):
            got = _create(self.writer, f"/full/{tag}-{i:03d}", b"f" * 600)
            if got is None:
                self.failed.append(f"/full/{tag}-{i:03d}")
                break
            self.acked.append(got)
        else:
            raise AssertionError(f"{limit} writes of 600 bytes succeeded on a full log device")
        for i in range(3):
            # Bigger than the one that failed, so it cannot fit in the log's last page either.
            got = _create(self.writer, f"/full/{tag}-again{i}", b"x" * 2000)
            assert got is None, f"a write succeeded on a full log device: {got}"
            self.failed.append(f"/full/{tag}-again{i}")
        assert self.server.proc.poll() is None, "the server exited when its log device was full"
        self.check_reads("while the log device is full")

    def check_reads(self, when: str) -> None:
        """Reads on a session that never wrote: exactly the acknowledged nodes are there."""
        children = set(_read(self.reader, when, "get_children", "/full"))
        assert children >= {p.rsplit("/", 1)[1] for p, _ in self.acked}, f"acknowledged nodes missing {when}"
        leaked = children & {p.rsplit("/", 1)[1] for p in self.failed}
        assert not leaked, f"writes that failed with connection loss are served {when}: {sorted(leaked)}"
        assert _read(self.reader, when, "get", self.acked[0][0])[0] == b"o" * 600

    def verify_restart(self) -> None:
        """SIGKILL: every log ends in whole records; the restart serves everything acknowledged."""
        last = served_zxid(self.server)
        before = read_served_tree(self.reader)
        self.server.kill()
        scan = scan_logs(self.tmp_path / "data", self.log_dir, torn_tail_ok=False)
        expect_none(scan.problems)
        expect_none(check_acked_in_logs(scan, self.acked))
        assert not [t.path for t in scan.txns.values() if t.path in self.failed]
        self.server = _restart(self.server, self.procs)
        assert "torn tail" not in self.server.log_path.read_text(errors="replace")
        assert served_zxid(self.server) == last
        wait_connected(self.reader, self.sessions[1])
        expect_none(verify_acked(self.reader, self.acked))
        expect_none(diff_served(before, read_served_tree(self.reader)))


def test_full_log_device_fails_writes_keeps_reads_and_recovers(tmp_path: Path, procs: list[RunningServer],
                                                               clients: list[Any], log_device: Any) -> None:
    dev = FullDevice(tmp_path, log_device("2m"), procs, clients)
    filler = dev.log_dir / "filler"
    for rnd in range(2):
        assert _fill(filler) > 0
        dev.writes_fail(f"b{rnd}")
        filler.unlink()  # space is back: writes work again
        dev.write_ok(f"ok{rnd}", 20)
        dev.check_reads("after space came back")
    dev.verify_restart()


def test_restart_on_a_full_log_device_then_writes_resume(tmp_path: Path, procs: list[RunningServer],
                                                         clients: list[Any], log_device: Any) -> None:
    dev = FullDevice(tmp_path, log_device("2m"), procs, clients)
    filler = dev.log_dir / "filler"
    last = served_zxid(dev.server)
    assert _fill(filler) > 0
    # Recovery needs no space on the log device; the first write then cannot even
    # create its new log file.
    dev.restart("kill")
    assert served_zxid(dev.server) == last
    dev.writes_fail("c")
    filler.unlink()
    got = _create(dev.writer, "/full/after-space", b"o" * 600)
    assert got is not None, "the first write after space came back failed"
    assert got[1] > last, f"zxid {got[1]:#x} handed out again (the server had reached {last:#x})"
    dev.acked.append(got)
    dev.write_ok("ok", 20)
    dev.check_reads("after space came back")
    dev.verify_restart()


def test_log_device_out_of_inodes_at_a_log_roll(tmp_path: Path, procs: list[RunningServer],
                                                clients: list[Any], log_device: Any) -> None:
    # A snapshot every ~10 txns rolls the log: the next write must create a new file,
    # and there is no inode left for it.
    dev = FullDevice(tmp_path, log_device("8m", nr_inodes=64), procs, clients, extra={"snapCount": "10"})
    fillers = _use_up_inodes(dev.log_dir)
    assert fillers
    dev.writes_fail("d")
    for p in fillers:
        p.unlink()
    dev.write_ok("ok", 20)
    dev.check_reads("after inodes came back")
    dev.verify_restart()


# ---- 7. purge ------------------------------------------------------------------------------


def _snapshots_settled(snap_dir: Path) -> bool:
    """No snapshot is being written, and none appeared over a short while."""
    first = sorted(p.name for p in snap_dir.iterdir())
    time.sleep(0.3)
    again = sorted(p.name for p in snap_dir.iterdir())
    return first == again and not any(n.endswith(".tmp") for n in again)


def test_purge_keeps_three_snapshots_and_the_server_restarts(tmp_path: Path, procs: list[RunningServer],
                                                             clients: list[Any]) -> None:
    rng = random.Random(SEED + 7)
    data = tmp_path / "data"
    snap_dir = version_dir(data)
    server = start_zkeeper(tmp_path, extra={**NO_REAPER, "snapCount": "20", "preAllocSize": "16"})
    procs.append(server)
    zk = client(server, persistent=True)
    clients.append(zk)
    zk.create("/purge")
    # A snapshot is skipped while the previous one is still being written ("too busy to
    # snap"), so write in batches until there are enough, within a bound.
    deadline = time.monotonic() + 20
    for batch in range(40):
        if len(snapshot_files(snap_dir)) >= 9 or time.monotonic() > deadline:
            break
        for r in [zk.create_async(f"/purge/b{batch}-{i}", rng.randbytes(50)) for i in range(25)]:
            r.get(timeout=20)
        time.sleep(0.05)
    wait_until("snapshot children to finish", lambda: _snapshots_settled(snap_dir), timeout=5)
    snaps = [z for z, _ in snapshot_files(snap_dir)]  # newest first
    logs_before = log_files(snap_dir)
    assert len(snaps) >= 8 and len(logs_before) >= 5, (snaps, logs_before)

    # While the server runs, as autopurge does.
    removed = purge(data, retain_count=3)
    kept_snaps = [z for z, _ in snapshot_files(snap_dir)]
    assert kept_snaps == snaps[:3]
    oldest = kept_snaps[-1]
    assert {p.name for p in removed if p.name.startswith("snapshot.")} == {f"snapshot.{z:x}" for z in snaps[3:]}
    kept_logs = log_files(snap_dir)
    starting_before = [z for z, _ in logs_before if z <= oldest]
    assert kept_logs[0][0] == max(starting_before), "the log holding the txns after the oldest kept snapshot went"
    assert any(p.name.startswith("log.") for p in removed), "purge removed no log at all"
    for p in removed:
        if p.name.startswith("log."):
            assert int(p.name.split(".")[1], 16) < kept_logs[0][0]
    scan = scan_logs(data)
    expect_none(scan.problems)

    for r in [zk.create_async(f"/purge/after-{i}", b"") for i in range(30)]:
        r.get(timeout=20)
    expected = read_served_tree(zk)
    last = served_zxid(server)
    sid = zk.client_id[0]
    server.kill()
    server = _restart(server, procs)
    assert served_zxid(server) == last
    wait_connected(zk, sid)
    expect_none(diff_served(expected, read_served_tree(zk)))

    # zkCleanup on the config, with the server stopped, and one more restart.
    server.stop()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src"))
    r = subprocess.run([sys.executable, "-m", "zkeeper.cli.zkcleanup", "-n", "3", str(server.config_path)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(snapshot_files(snap_dir)) == 3
    expect_none(scan_logs(data, torn_tail_ok=False).problems)
    server = _restart(server, procs)
    assert served_zxid(server) == last
    wait_connected(zk, sid)
    expect_none(diff_served(expected, read_served_tree(zk)))
