"""A tiny in-memory pipeline over the pure cores, for unit tests: prep then apply, in order."""

from __future__ import annotations

from typing import Any

from zkeeper.jute import ACL, Id
from zkeeper.session.tracker import SessionTracker
from zkeeper.tree.acl import OPEN_ACL_UNSAFE
from zkeeper.tree.datatree import DataTree
from zkeeper.txn.changes import OutstandingChanges
from zkeeper.txn.final import Final, Reply
from zkeeper.txn.prep import Prep
from zkeeper.txn.request import Request
from zkeeper.types import OpCode

NOW = 1_000_000


class Core:
    def __init__(self, extended_types: bool = True) -> None:
        self.tree = DataTree()
        self.sessions = SessionTracker(2000, 1, NOW)
        self.changes = OutstandingChanges(self.tree)
        self.prep = Prep(self.changes, self.sessions, extended_types=extended_types)
        self.final = Final(self.tree, self.changes)
        self.xid = 0

    def session(self, timeout: int = 10_000) -> int:
        sid = self.sessions.new_session_id()
        self.sessions.add(sid, timeout, NOW)
        self.run(sid, OpCode.CREATE_SESSION, timeout)
        return sid

    def run(self, sid: int, op: int, record: Any, auth: list[Id] | None = None, origin: Any = None) -> Reply:
        self.xid += 1
        p = self.prep.prepare(Request(sid, self.xid, op, record, auth or [], origin), NOW + self.xid)
        rc = self.final.apply(p)
        return self.final.reply(p, rc)


def open_acl() -> list[ACL]:
    return list(OPEN_ACL_UNSAFE)
