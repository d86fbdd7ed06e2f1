"""The in-memory data tree and the application of committed transactions to it.

`apply(hdr, txn)` is the only way state changes; it is deterministic (time comes from
the txn header) so replaying the log rebuilds the same tree. Watch events raised while
applying are queued in `events` for the driver to deliver, in trigger order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Code, KeeperError
from ..jute import (
    ACL, ErrorTxn, MultiTxn, Stat, TxnHeader, WatcherEvent,
)
from ..jute.schema import decode
from ..jute.txntypes import TXN_RECORD_TYPES
from ..paths import basename, parent_of
from ..types import (
    CONTAINER_EPHEMERAL_OWNER, EventType, KeeperState, OpCode, ttl_ephemeral_owner, ttl_of_owner,
)
from . import watches as wm
from .acl import OPEN_ACL_UNSAFE, READ_ACL_UNSAFE
from .javaorder import JavaHashSet
from .znode import Znode

Watcher = wm.Watcher

ZOOKEEPER = "/zookeeper"
QUOTA = "/zookeeper/quota"
CONFIG = "/zookeeper/config"
SPECIAL_PATHS = frozenset({"/", ZOOKEEPER, QUOTA, CONFIG})



@dataclass(slots=True)
class TxnResult:
    type: int
    zxid: int
    err: int = 0
    path: str | None = None
    stat: Stat | None = None
    multi: list[TxnResult] = field(default_factory=list)


class DataTree:
    def __init__(self) -> None:
        self.nodes: dict[str, Znode] = {}
        self.ephemerals: dict[int, JavaHashSet] = {}
        self.containers: set[str] = set()
        self.ttls: set[str] = set()
        self.data_watches = wm.WatchManager()
        self.child_watches = wm.WatchManager()
        self.last_processed_zxid = 0
        # (watcher, event, ACL of the node it is about): a watcher that may not READ
        # that node is not told (Apache ZooKeeper's fix for CVE-2024-23944).
        self.events: list[tuple[Watcher, WatcherEvent, list[ACL] | None]] = []
        self.approximate_data_size = 0
        self._acls: dict[tuple[ACL, ...], list[ACL]] = {}
        self._make_system_nodes()

    def _make_system_nodes(self) -> None:
        # Stats exactly as a fresh Apache ZooKeeper reports them.
        root = self._put("/", b"", OPEN_ACL_UNSAFE, 0, 0, 0)
        zk = self._put(ZOOKEEPER, b"", OPEN_ACL_UNSAFE, 0, 0, 0)
        root.add_child("zookeeper")
        self._put(QUOTA, b"", OPEN_ACL_UNSAFE, 0, 0, 0)
        config = self._put(CONFIG, b"", READ_ACL_UNSAFE, 0, 0, 0)
        zk.add_child("quota")
        zk.add_child("config")
        config.aversion = -1

    def intern_acl(self, acl: list[ACL]) -> list[ACL]:
        """One shared list per distinct ACL (ZooKeeper's ACL cache): most znodes carry
        the same few ACLs, and a list of ACL records per znode would dominate memory."""
        key = tuple(acl)
        shared = self._acls.get(key)
        if shared is None:
            shared = self._acls[key] = list(acl)
        return shared

    def _put(self, path: str, data: bytes | None, acl: list[ACL], zxid: int, time: int, owner: int) -> Znode:
        node = Znode(data, self.intern_acl(acl), zxid, time, owner)
        self.nodes[path] = node
        self.approximate_data_size += len(path) + (len(data) if data else 0)
        return node

    # ---- queries -----------------------------------------------------------

    def get(self, path: str) -> Znode | None:
        # ZooKeeper's node map holds the root under "" as well as "/".
        return self.nodes.get(path or "/")

    @property
    def node_count(self) -> int:
        return len(self.nodes)

    def ephemeral_paths(self, session_id: int) -> list[str]:
        """The session's ephemerals in the order ZooKeeper lists them (a HashSet copy)."""
        paths = self.ephemerals.get(session_id)
        return paths.clone_order() if paths is not None else []

    def ephemeral_count(self) -> int:
        return sum(len(p) for p in self.ephemerals.values())

    def count_descendants(self, path: str) -> int:
        if path == "":
            # ZooKeeper counts keys starting with "/": every node, the root included.
            return len(self.nodes)
        node = self.nodes[path]
        total = 0
        stack = [(path, node)]
        while stack:
            p, n = stack.pop()
            for name in n.children:
                child_path = "/" + name if p == "/" else p + "/" + name
                total += 1
                stack.append((child_path, self.nodes[child_path]))
        return total

    # ---- watches -------------------------------------------------------------

    def _fire(self, manager: wm.WatchManager, path: str, etype: EventType, acl: list[ACL],
              suppress: list[Watcher] | None = None) -> list[Watcher]:
        watchers = manager.trigger(path, etype, suppress or ())
        if watchers:
            event = WatcherEvent(etype, KeeperState.SYNC_CONNECTED, path)
            self.events.extend((w, event, acl) for w in watchers)
        return watchers

    def take_events(self) -> list[tuple[Watcher, WatcherEvent, list[ACL] | None]]:
        events, self.events = self.events, []
        return events

    def remove_watcher(self, watcher: Watcher) -> None:
        self.data_watches.remove_watcher(watcher)
        self.child_watches.remove_watcher(watcher)

    # ---- applying transactions ----------------------------------------------

    def apply(self, hdr: TxnHeader, txn: Any) -> TxnResult:
        """Apply one committed txn. Replaying a txn that a fuzzy snapshot already holds
        is harmless: the conflict is reported in `err` and nothing breaks, as in ZooKeeper."""
        result = self._apply_one(hdr.type, hdr, txn)
        if hdr.zxid > self.last_processed_zxid:
            self.last_processed_zxid = hdr.zxid
        return result

    def _apply_one(self, type_: int, hdr: TxnHeader, txn: Any) -> TxnResult:
        rc = TxnResult(type_, hdr.zxid)
        try:
            self._apply_change(type_, hdr, txn, rc)
        except KeeperError as e:
            rc.err = e.code
            if type_ in (OpCode.CREATE, OpCode.CREATE2) and e.code == Code.NODEEXISTS:
                # Replayed create of a node the snapshot has: bring the parent's
                # cversion/pzxid forward as the original create did.
                self._set_cversion_pzxid(parent_of(txn.path), txn.parentCVersion, hdr.zxid)
        return rc

    def _set_cversion_pzxid(self, path: str, cversion: int, zxid: int) -> None:
        node = self.nodes.get(path)
        if node is None:
            return
        if cversion == -1:
            cversion = node.cversion + 1
        if cversion > node.cversion:
            node.cversion = cversion
            node.pzxid = zxid

    def _apply_change(self, type_: int, hdr: TxnHeader, txn: Any, rc: TxnResult) -> None:
        zxid = hdr.zxid
        if type_ in (OpCode.CREATE, OpCode.CREATE2):
            owner = hdr.clientId if txn.ephemeral else 0
            rc.path, rc.stat = txn.path, self.create_node(txn.path, txn.data, txn.acl, owner, txn.parentCVersion, zxid, hdr.time)
        elif type_ == OpCode.CREATE_TTL:
            owner = ttl_ephemeral_owner(txn.ttl)
            rc.path, rc.stat = txn.path, self.create_node(txn.path, txn.data, txn.acl, owner, txn.parentCVersion, zxid, hdr.time)
        elif type_ == OpCode.CREATE_CONTAINER:
            rc.path, rc.stat = txn.path, self.create_node(
                txn.path, txn.data, txn.acl, CONTAINER_EPHEMERAL_OWNER, txn.parentCVersion, zxid, hdr.time)
        elif type_ in (OpCode.DELETE, OpCode.DELETE_CONTAINER):
            rc.path = txn.path
            self.delete_node(txn.path, zxid)
        elif type_ == OpCode.SET_DATA:
            rc.path, rc.stat = txn.path, self.set_data(txn.path, txn.data, txn.version, zxid, hdr.time)
        elif type_ == OpCode.SET_ACL:
            rc.path, rc.stat = txn.path, self.set_acl(txn.path, txn.acl, txn.version)
        elif type_ == OpCode.CHECK:
            rc.path = txn.path
        elif type_ == OpCode.ERROR:
            rc.err = txn.err
        elif type_ == OpCode.CLOSE_SESSION:
            self.kill_session(hdr.clientId, zxid, txn.paths2Delete if txn is not None else None)
        elif type_ == OpCode.MULTI:
            self._apply_multi(hdr, txn, rc)
        # createSession only advances the zxid; sessions live in the session tracker.

    def _apply_multi(self, hdr: TxnHeader, txn: MultiTxn, rc: TxnResult) -> None:
        failed = any(sub.type == OpCode.ERROR for sub in txn.txns)
        post_failed = False
        for sub in txn.txns:
            record = decode(TXN_RECORD_TYPES[sub.type], sub.data)
            sub_type = sub.type
            if sub_type == OpCode.ERROR:
                post_failed = True
            elif failed:
                # ZooKeeper reports ops before the failure as OK and after it as
                # RUNTIMEINCONSISTENCY; nothing of a failed multi is applied.
                sub_type = OpCode.ERROR
                record = ErrorTxn(Code.RUNTIMEINCONSISTENCY if post_failed else Code.OK)
            sub_rc = self._apply_one(sub_type, hdr, record)
            rc.multi.append(sub_rc)
            if sub_rc.err and not rc.err:
                rc.err = sub_rc.err

    def create_node(self, path: str, data: bytes | None, acl: list[ACL], owner: int,
                    parent_cversion: int, zxid: int, time: int) -> Stat:
        parent_path = parent_of(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            raise KeeperError(Code.NONODE, path)
        name = basename(path)
        if name in parent.children:
            raise KeeperError(Code.NODEEXISTS, path)
        if parent_cversion == -1:
            parent_cversion = parent.cversion + 1
        # Replays of a fuzzy snapshot must not move cversion/pzxid backwards.
        if parent_cversion > parent.cversion:
            parent.cversion = parent_cversion
            parent.pzxid = zxid
        node = self._put(path, data, acl, zxid, time, owner)
        parent.add_child(name)
        if owner == CONTAINER_EPHEMERAL_OWNER:
            self.containers.add(path)
        elif ttl_of_owner(owner) is not None:
            self.ttls.add(path)
        elif owner != 0:
            paths = self.ephemerals.get(owner)
            if paths is None:
                paths = self.ephemerals[owner] = JavaHashSet()
            paths.add(path)
        self._fire(self.data_watches, path, EventType.NODE_CREATED, acl)
        self._fire(self.child_watches, parent_path, EventType.NODE_CHILDREN_CHANGED, parent.acl)
        return node.stat()

    def delete_node(self, path: str, zxid: int) -> None:
        parent_path = parent_of(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            raise KeeperError(Code.NONODE, path)
        parent.remove_child(basename(path))
        if zxid > parent.pzxid:
            parent.pzxid = zxid
        node = self.nodes.pop(path, None)
        if node is None:
            raise KeeperError(Code.NONODE, path)
        self.approximate_data_size -= len(path) + (len(node.data) if node.data else 0)
        owner = node.ephemeral_owner
        if owner == CONTAINER_EPHEMERAL_OWNER:
            self.containers.discard(path)
        elif ttl_of_owner(owner) is not None:
            self.ttls.discard(path)
        elif owner != 0:
            paths = self.ephemerals.get(owner)
            if paths is not None:
                # An emptied set stays until the session dies, as in ZooKeeper,
                # so its table size (and so its listing order) carries over.
                paths.discard(path)
        fired = self._fire(self.data_watches, path, EventType.NODE_DELETED, node.acl)
        self._fire(self.child_watches, path, EventType.NODE_DELETED, node.acl, fired)
        self._fire(self.child_watches, parent_path, EventType.NODE_CHILDREN_CHANGED, parent.acl)

    def _existing(self, path: str) -> Znode:
        node = self.nodes.get(path)
        if node is None:
            raise KeeperError(Code.NONODE, path)
        return node

    def set_data(self, path: str, data: bytes | None, version: int, zxid: int, time: int) -> Stat:
        node = self._existing(path)
        # null data stays null: getData answers a null buffer, as ZooKeeper does.
        self.approximate_data_size += (len(data) if data else 0) - (len(node.data) if node.data else 0)
        node.data = data
        node.mtime = time
        node.mzxid = zxid
        node.version = version
        stat = node.stat()
        self._fire(self.data_watches, path, EventType.NODE_DATA_CHANGED, node.acl)
        return stat

    def set_acl(self, path: str, acl: list[ACL], version: int) -> Stat:
        node = self._existing(path)
        node.acl = self.intern_acl(acl)
        node.aversion = version
        return node.stat()

    def kill_session(self, session_id: int, zxid: int, paths: list[str] | None) -> None:
        if paths is None:
            paths = self.ephemeral_paths(session_id)
        for path in paths:
            if path in self.nodes:
                try:
                    self.delete_node(path, zxid)
                except KeeperError:
                    pass  # its parent is gone too (possible only when replaying)
        self.ephemerals.pop(session_id, None)
