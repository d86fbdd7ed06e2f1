"""Helpers for storage tests: generate real txns with our own prep, compare trees.

`Scenario` drives the pure cores (prep -> apply) like a server would and keeps every
txn it logged, so tests can write those txns with our writer and replay them.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkeeper.jute import (
    ACL, CheckVersionRequest, CreateRequest, CreateTTLRequest, DeleteRequest, Id, SetACLRequest,
    SetDataRequest, TxnDigest, TxnHeader,
)
from zkeeper.jute.multi import MultiRequest
from zkeeper.session.tracker import SessionTracker
from zkeeper.storage.digest import tree_digest
from zkeeper.storage.format import DIGEST_VERSION
from zkeeper.tree.acl import OPEN_ACL_UNSAFE, generate_digest
from zkeeper.tree.datatree import DataTree
from zkeeper.tree.znode import Znode
from zkeeper.txn.changes import OutstandingChanges
from zkeeper.txn.final import Final, Reply
from zkeeper.txn.prep import Prep
from zkeeper.txn.request import Request
from zkeeper.types import CONTAINER_EPHEMERAL_OWNER, CreateMode, OpCode, Perms, ttl_of_owner

DIGEST_USER = "user:pw"
DIGEST_ID = Id("digest", generate_digest(DIGEST_USER))
USER_ALL = [ACL(Perms.ALL, DIGEST_ID)]
USER_RW = [ACL(Perms.READ | Perms.WRITE, DIGEST_ID)]


@dataclass
class Logged:
    hdr: TxnHeader
    txn: Any
    digest: TxnDigest | None


@dataclass
class Scenario:
    """A tiny standalone server core; every committed txn is kept in `logged`."""

    with_digests: bool = False
    now_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    tree: DataTree = field(default_factory=DataTree)
    logged: list[Logged] = field(default_factory=list)
    open_sessions: dict[int, int] = field(default_factory=dict)
    keep_views: bool = False
    # With keep_views: (zxid, tree_view, sessions) after each logged txn, for tests that
    # need the expected state at any point of the log.
    views: list[tuple[int, dict[str, Any], dict[int, int]]] = field(default_factory=list)
    # With keep_views, also a copy of the whole tree after each txn (to write snapshots).
    trees: dict[int, DataTree] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tracker = SessionTracker(2000, 1, self.now_ms)
        self.changes = OutstandingChanges(self.tree)
        self.prep = Prep(self.changes, self.tracker, extended_types=True)
        self.final = Final(self.tree, self.changes)
        self.xid = 0

    def run(self, sid: int, op: int, record: Any, auth: list[Id] | None = None) -> Reply:
        self.xid += 1
        self.now_ms += 3
        p = self.prep.prepare(Request(sid, self.xid, op, record, auth or []), self.now_ms)
        rc = self.final.apply(p)
        if p.hdr is not None:
            digest = TxnDigest(DIGEST_VERSION, tree_digest(self.tree)) if self.with_digests else None
            self.logged.append(Logged(p.hdr, p.txn, digest))
            if self.keep_views:
                sessions = dict(self.open_sessions)
                if p.hdr.type == OpCode.CREATE_SESSION:
                    sessions[sid] = record
                elif p.hdr.type == OpCode.CLOSE_SESSION:
                    sessions.pop(sid, None)
                self.views.append((p.hdr.zxid, tree_view(self.tree), sessions))
                self.trees[p.hdr.zxid] = copy.deepcopy(self.tree)
        return self.final.reply(p, rc)

    def view_at(self, zxid: int) -> tuple[dict[str, Any], dict[int, int]]:
        """The tree view and sessions after the last txn with a zxid <= `zxid`."""
        best: tuple[dict[str, Any], dict[int, int]] = (tree_view(DataTree()), {})
        for z, view, sessions in self.views:
            if z <= zxid:
                best = (view, sessions)
        return best

    def state_at(self, zxid: int) -> tuple[DataTree, dict[int, int]]:
        """A copy of the tree and the sessions right after txn `zxid` (0: empty)."""
        if zxid == 0:
            return DataTree(), {}
        return copy.deepcopy(self.trees[zxid]), dict(next(s for z, _, s in self.views if z == zxid))

    def session(self, timeout: int = 60_000) -> int:
        sid = self.tracker.new_session_id()
        self.tracker.add(sid, timeout, self.now_ms)
        self.run(sid, OpCode.CREATE_SESSION, timeout)
        self.open_sessions[sid] = timeout
        return sid

    def close(self, sid: int) -> None:
        self.run(sid, OpCode.CLOSE_SESSION, None)
        self.open_sessions.pop(sid, None)

    def create(self, sid: int, path: str, data: bytes = b"", mode: CreateMode = CreateMode.PERSISTENT,
               acl: list[ACL] | None = None, ttl: int = 0, op: int = OpCode.CREATE) -> Reply:
        acl = list(acl or OPEN_ACL_UNSAFE)
        if ttl:
            return self.run(sid, OpCode.CREATE_TTL, CreateTTLRequest(path, data, acl, mode, ttl))
        if mode == CreateMode.CONTAINER:
            op = OpCode.CREATE_CONTAINER
        return self.run(sid, op, CreateRequest(path, data, acl, mode))

    @property
    def last_zxid(self) -> int:
        return self.logged[-1].hdr.zxid if self.logged else 0


def build_mixed(sc: Scenario) -> dict[str, int]:
    """Every kind of node and txn; returns the session ids by role ("live", "closed")."""
    auth = [DIGEST_ID]
    live = sc.session(60_000)
    gone = sc.session(30_000)
    sc.create(live, "/app", b"root of app")
    sc.create(live, "/app/config", b'{"k": 1}', op=OpCode.CREATE2)
    sc.create(live, "/app/eph", b"ephemeral", CreateMode.EPHEMERAL)
    sc.create(live, "/app/seq-", b"s1", CreateMode.PERSISTENT_SEQUENTIAL)
    sc.create(live, "/app/seq-", b"s2", CreateMode.EPHEMERAL_SEQUENTIAL)
    sc.create(gone, "/app/goner", b"dies with its session", CreateMode.EPHEMERAL)
    sc.create(live, "/box", b"", CreateMode.CONTAINER)
    sc.create(live, "/box/item", b"x")
    sc.create(live, "/ttl", b"lives long", CreateMode.PERSISTENT_WITH_TTL, ttl=3_600_000)
    sc.create(live, "/ttl-seq-", b"", CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=3_600_000)
    sc.run(live, OpCode.CREATE, CreateRequest("/secure", b"secret", USER_ALL, 0), auth)
    sc.run(live, OpCode.SET_DATA, SetDataRequest("/app/config", b'{"k": 2}', -1))
    sc.run(live, OpCode.SET_DATA, SetDataRequest("/app/config", b'{"k": 3}', 1))
    sc.run(live, OpCode.SET_ACL, SetACLRequest("/app", USER_RW, -1))
    sc.run(live, OpCode.CREATE, CreateRequest("/tmp", b"", list(OPEN_ACL_UNSAFE), 0))
    sc.run(live, OpCode.CREATE, CreateRequest("/tmp/a", b"", list(OPEN_ACL_UNSAFE), 0))
    sc.run(live, OpCode.DELETE, DeleteRequest("/tmp/a", -1))
    sc.run(live, OpCode.MULTI, MultiRequest([
        (OpCode.CREATE, CreateRequest("/multi", b"m", list(OPEN_ACL_UNSAFE), 0)),
        (OpCode.CREATE, CreateRequest("/multi/child", b"c", list(OPEN_ACL_UNSAFE), 0)),
        (OpCode.SET_DATA, SetDataRequest("/tmp", b"touched", -1)),
        (OpCode.CHECK, CheckVersionRequest("/tmp", 1)),
        (OpCode.DELETE, DeleteRequest("/box/item", -1)),
    ]))
    # A failing multi still consumes a zxid and is logged (as error txns).
    sc.run(live, OpCode.MULTI, MultiRequest([
        (OpCode.CREATE, CreateRequest("/never", b"", list(OPEN_ACL_UNSAFE), 0)),
        (OpCode.DELETE, DeleteRequest("/does-not-exist", -1)),
    ]))
    sc.run(live, OpCode.SET_DATA, SetDataRequest("/missing", b"", -1))  # an error txn
    sc.close(gone)
    sc.run(live, OpCode.CREATE, CreateRequest("/utf8-ñ-✓", "dätä".encode(), list(OPEN_ACL_UNSAFE), 0))
    sc.run(live, OpCode.CREATE, CreateRequest("/big", bytes(range(256)) * 400, list(OPEN_ACL_UNSAFE), 0))
    sc.run(live, OpCode.CREATE, CreateRequest("/null", None, list(OPEN_ACL_UNSAFE), 0))  # data stays null
    return {"live": live, "closed": gone}


# ---- comparing trees ---------------------------------------------------------------


def client_owner(owner: int) -> int:
    """What ZooKeeper tells clients as ephemeralOwner (DataNode.getClientEphemeralOwner):
    containers and TTL nodes show 0."""
    if owner == CONTAINER_EPHEMERAL_OWNER or ttl_of_owner(owner) is not None:
        return 0
    return owner


def node_view(node: Znode) -> tuple[Any, ...]:
    """Everything persisted about a node, children as a set."""
    return (node.data, [(int(a.perms), a.id.scheme, a.id.id) for a in node.acl], node.czxid, node.mzxid,
            node.ctime, node.mtime, node.version, node.cversion, node.aversion, node.ephemeral_owner,
            node.pzxid, sorted(node.children))


def tree_view(tree: DataTree) -> dict[str, tuple[Any, ...]]:
    return {p: node_view(n) for p, n in tree.nodes.items()}


def assert_same_tree(a: DataTree, b: DataTree) -> None:
    va, vb = tree_view(a), tree_view(b)
    assert sorted(va) == sorted(vb), f"paths differ: {set(va) ^ set(vb)}"
    for p in va:
        assert va[p] == vb[p], f"{p}: {va[p]} != {vb[p]}"
    assert sorted(a.ephemerals.keys()) == sorted(b.ephemerals.keys()) or \
        {k: sorted(v.items) for k, v in a.ephemerals.items() if len(v)} == \
        {k: sorted(v.items) for k, v in b.ephemerals.items() if len(v)}
    assert a.containers == b.containers
    assert a.ttls == b.ttls
    assert a.approximate_data_size == b.approximate_data_size
    assert a.last_processed_zxid == b.last_processed_zxid


# ---- writing a scenario to disk ----------------------------------------------------------


def persist(sc: Scenario, data_dir: Path, *, snapshots: tuple[int, ...] = (0,), prealloc: int = 16 * 1024,
            log_dir: Path | None = None, upto: int | None = None) -> list[Path]:
    """Write the scenario's txns with our writer, rolling the log after each snapshot
    zxid and writing that snapshot, as a server does. Needs keep_views for snapshots > 0."""
    from zkeeper.storage import TxnLogWriter, write_snapshot

    written = []
    if 0 in snapshots:
        written.append(write_snapshot(DataTree(), {}, 0, data_dir))
    with TxnLogWriter(log_dir or data_dir, prealloc_size=prealloc) as w:
        for e in sc.logged:
            if upto is not None and e.hdr.zxid > upto:
                break
            w.append(e.hdr, e.txn, e.digest)
            if e.hdr.zxid in snapshots:
                w.flush_and_sync()
                tree, sessions = sc.state_at(e.hdr.zxid)
                written.append(write_snapshot(tree, sessions, e.hdr.zxid, data_dir))
                w.roll()
        w.flush_and_sync()
    return written


def log_paths(base: Path) -> list[Path]:
    d = base / "version-2"
    return sorted(d.glob("log.*"), key=lambda p: int(p.name.split(".")[1], 16))
