"""Outstanding changes: the effect of prepared but not yet applied transactions.

Prep must judge each request against the tree as it will be once everything before
it is applied (ZooKeeper's `outstandingChanges`). A record per path overlays the tree;
records are dropped once the transaction that made them is applied.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..errors import Code, KeeperError
from ..jute import ACL
from ..tree.datatree import DataTree


@dataclass(slots=True)
class NodeState:
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    pzxid: int


@dataclass(slots=True)
class ChangeRecord:
    zxid: int
    path: str
    state: NodeState | None  # None: the node is deleted
    child_count: int
    acl: list[ACL]

    def duplicate(self, zxid: int) -> ChangeRecord:
        st = self.state
        state = NodeState(st.version, st.cversion, st.aversion, st.ephemeral_owner, st.pzxid) if st else None
        return ChangeRecord(zxid, self.path, state, self.child_count, self.acl)


class OutstandingChanges:
    def __init__(self, tree: DataTree) -> None:
        self.tree = tree
        self.queue: deque[ChangeRecord] = deque()
        self.by_path: dict[str, ChangeRecord] = {}

    def lookup(self, path: str) -> ChangeRecord | None:
        path = path or "/"  # the root answers to "" too
        rec = self.by_path.get(path)
        if rec is not None:
            return rec
        node = self.tree.get(path)
        if node is None:
            return None
        state = NodeState(node.version, node.cversion, node.aversion, node.ephemeral_owner, node.pzxid)
        return ChangeRecord(-1, path, state, len(node.children), node.acl)

    def record_for(self, path: str) -> ChangeRecord:
        """The node as it will be; NONODE if it does not (or will not) exist."""
        rec = self.lookup(path)
        if rec is None or rec.state is None:
            raise KeeperError(Code.NONODE, path)
        return rec

    def add(self, rec: ChangeRecord) -> None:
        self.queue.append(rec)
        self.by_path[rec.path] = rec

    def mark(self) -> tuple[int, dict[str, ChangeRecord]]:
        """A point to roll back to when a multi fails part way."""
        return len(self.queue), dict(self.by_path)

    def rollback(self, mark: tuple[int, dict[str, ChangeRecord]]) -> None:
        length, saved = mark
        while len(self.queue) > length:
            self.queue.pop()
        self.by_path = saved

    def applied(self, zxid: int) -> None:
        """Forget the records of every transaction up to `zxid`, now in the tree."""
        q = self.queue
        while q and q[0].zxid <= zxid:
            rec = q.popleft()
            if self.by_path.get(rec.path) is rec:
                del self.by_path[rec.path]

    def forget_after(self, zxid: int) -> None:
        """Drop the records of txns past `zxid` (they were never made durable)."""
        q = self.queue
        while q and q[-1].zxid > zxid:
            q.pop()
        self.by_path = {}
        for rec in q:
            self.by_path[rec.path] = rec

    def session_ephemerals(self, session_id: int) -> list[str]:
        """The session's ephemerals as they will be, in ZooKeeper's listing order."""
        paths = self.tree.ephemeral_paths(session_id)
        present = dict.fromkeys(paths)
        for rec in self.queue:
            if rec.state is None:
                present.pop(rec.path, None)
            elif rec.state.ephemeral_owner == session_id:
                present[rec.path] = None
        return list(present)
