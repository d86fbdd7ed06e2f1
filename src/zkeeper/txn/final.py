"""Final: apply a prepared request's transaction, answer reads, and build the reply.

As ZooKeeper's FinalRequestProcessor: the reply carries the tree's last applied zxid;
reads register watches for the asking connection (`origin`); watch events raised by
the apply are left in `tree.events` for the driver to send before this reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import Code, KeeperError
from ..jute import (
    ClientInfo, Create2Response, CreateResponse, ErrorResponse, ExistsResponse,
    GetACLResponse, GetAllChildrenNumberResponse, GetChildren2Response, GetChildrenResponse,
    GetDataResponse, GetEphemeralsResponse, ReplyHeader, SetACLResponse, SetDataResponse,
    SetWatches2, SyncResponse, WatcherEvent, WhoAmIResponse,
)
from ..jute.multi import MultiRequest, MultiResponse
from ..proto.requests import Malformed
from ..tree import watches as wm
from ..tree.acl import check_acl, redact_digests, user_name
from ..tree.datatree import DataTree, TxnResult
from ..tree.znode import Znode
from ..types import PING_XID, EventType, KeeperState, OpCode, Perms, WatcherType
from .changes import OutstandingChanges
from .request import Prepared, Request

_CREATE2_LIKE = (OpCode.CREATE2, OpCode.CREATE_TTL, OpCode.CREATE_CONTAINER)
_JAVA_WHITESPACE = "".join(chr(c) for c in range(0x21))


def _java_trim(s: str) -> str:
    """String.trim(): strips every char up to U+0020, not only Python's whitespace."""
    return s.strip(_JAVA_WHITESPACE)


@dataclass(slots=True)
class _Raw:
    """A response body already encoded (a cached children vector), plus an optional Stat."""

    wire: bytes
    stat: Any = None

    def write(self, w: Any) -> None:
        w.raw(self.wire)
        if self.stat is not None:
            self.stat.write(w)


@dataclass(slots=True)
class Reply:
    header: ReplyHeader
    body: Any = None  # a record with .write(), or None


class Final:
    def __init__(self, tree: DataTree, changes: OutstandingChanges, *, skip_acl: bool = False) -> None:
        self.tree = tree
        self.changes = changes
        self.skip_acl = skip_acl
        self._reads: dict[int, Callable[[Request, Any], Any]] = {
            OpCode.EXISTS: self._exists,
            OpCode.GET_DATA: self._get_data_request,
            OpCode.GET_CHILDREN: self._get_children_request,
            OpCode.GET_CHILDREN2: self._get_children2,
            OpCode.GET_ACL: self._get_acl_request,
            OpCode.GET_ALL_CHILDREN_NUMBER: self._all_children_number,
            OpCode.SYNC: self._sync,
            OpCode.MULTI_READ: self._multi_read,
            OpCode.SET_WATCHES: self._set_watches_request,
            OpCode.SET_WATCHES2: self._set_watches_request,
            OpCode.ADD_WATCH: self._add_watch,
            OpCode.CHECK_WATCHES: self._check_watches,
            OpCode.REMOVE_WATCHES: self._remove_watches,
            OpCode.WHO_AM_I: self._who_am_i,
            OpCode.GET_EPHEMERALS: self._get_ephemerals,
        }

    def apply(self, p: Prepared) -> TxnResult | None:
        """Apply the transaction of a committed write (no-op for reads)."""
        if p.hdr is None:
            return None
        rc = self.tree.apply(p.hdr, p.txn)
        self.changes.applied(p.hdr.zxid)
        return rc

    def reply(self, p: Prepared, rc: TxnResult | None) -> Reply:
        req = p.request
        body: Any = None
        err = Code.OK
        try:
            if p.hdr is not None and p.hdr.type == OpCode.ERROR:
                raise p.error or KeeperError(Code(p.txn.err))
            if p.error is not None and req.type != OpCode.MULTI:
                raise p.error
            if req.type == OpCode.PING:
                return Reply(ReplyHeader(PING_XID, self.tree.last_processed_zxid, 0))
            body = self._respond(req, rc)
        except KeeperError as e:
            err = e.code
            body = None
        return Reply(ReplyHeader(req.cxid, self.tree.last_processed_zxid, err), body)

    # ---- per opcode --------------------------------------------------------------

    def _respond(self, req: Request, rc: TxnResult | None) -> Any:
        if rc is not None:
            return self._write_response(req.type, rc)
        rec = req.record
        if isinstance(rec, Malformed):
            raise KeeperError(Code.MARSHALLINGERROR)
        handler = self._reads.get(req.type)
        if handler is None:
            raise KeeperError(Code.UNIMPLEMENTED)
        return handler(req, rec)

    # One handler per read opcode, looked up in a table built in __init__.

    def _exists(self, req: Request, rec: Any) -> Any:
        if "\0" in rec.path:
            raise KeeperError(Code.BADARGUMENTS)
        if rec.watch and req.origin is not None:
            self.tree.data_watches.add(rec.path, req.origin)
        return ExistsResponse(self._node(rec.path).stat())

    def _get_data_request(self, req: Request, rec: Any) -> Any:
        return self._get_data(req, rec.path, rec.watch)

    def _get_children_request(self, req: Request, rec: Any) -> Any:
        node = self._children_node(req, rec.path, rec.watch)
        return _Raw(node.children_wire())

    def _get_children2(self, req: Request, rec: Any) -> Any:
        node = self._children_node(req, rec.path, rec.watch)
        return _Raw(node.children_wire(), node.stat())

    def _get_acl_request(self, req: Request, rec: Any) -> Any:
        return self._get_acl(req, rec.path)

    def _all_children_number(self, req: Request, rec: Any) -> Any:
        node = self._node(rec.path)
        self._check(node, Perms.READ, req)
        return GetAllChildrenNumberResponse(self.tree.count_descendants(rec.path))

    def _sync(self, req: Request, rec: Any) -> Any:
        return SyncResponse(rec.path)

    def _set_watches_request(self, req: Request, rec: Any) -> Any:
        self._set_watches(req, rec)
        return None

    def _add_watch(self, req: Request, rec: Any) -> Any:
        if rec.mode not in (0, 1):
            raise KeeperError(Code.MARSHALLINGERROR, rec.path)  # ZooKeeper's unknown-mode failure
        mode = wm.RECURSIVE if rec.mode == 1 else wm.PERSISTENT
        if req.origin is not None:
            self.tree.data_watches.add(rec.path, req.origin, mode)
            self.tree.child_watches.add(rec.path, req.origin, mode)
        return ErrorResponse(0)

    def _check_watches(self, req: Request, rec: Any) -> Any:
        if not self._watch_query(req, rec.path, rec.type, remove=False):
            raise KeeperError(Code.NOWATCHER, rec.path)
        return None

    def _remove_watches(self, req: Request, rec: Any) -> Any:
        if not self._watch_query(req, rec.path, rec.type, remove=True):
            raise KeeperError(Code.NOWATCHER, rec.path)
        return None

    def _who_am_i(self, req: Request, rec: Any) -> Any:
        return WhoAmIResponse([ClientInfo(i.scheme, user_name(i)) for i in req.auth])

    def _get_ephemerals(self, req: Request, rec: Any) -> Any:
        prefix = rec.prefixPath
        paths = self.tree.ephemeral_paths(req.session_id)
        if prefix is not None and _java_trim(prefix) not in ("", "/"):
            paths = [p for p in paths if p.startswith(prefix)]
        return GetEphemeralsResponse(paths)

    def _write_response(self, t: int, rc: TxnResult) -> Any:
        if t == OpCode.MULTI:
            return MultiResponse([self._multi_result(sub) for sub in rc.multi])
        if rc.err:
            raise KeeperError(Code(rc.err))
        if t == OpCode.CREATE:
            return CreateResponse(rc.path or "")
        if t in _CREATE2_LIKE:
            return Create2Response(rc.path or "", rc.stat)
        if t in (OpCode.SET_DATA, OpCode.CHECK):
            return SetDataResponse(rc.stat) if rc.stat is not None else None
        if t == OpCode.SET_ACL:
            return SetACLResponse(rc.stat)
        return None  # delete, closeSession, createSession

    @staticmethod
    def _multi_result(sub: TxnResult) -> tuple[int, int, Any]:
        t = sub.type
        if t == OpCode.ERROR:
            return (OpCode.ERROR, sub.err, ErrorResponse(sub.err))
        if t == OpCode.CREATE:
            return (t, 0, CreateResponse(sub.path or ""))
        if t in _CREATE2_LIKE:
            # A create result that carries a Stat is typed create2 on the wire.
            return (OpCode.CREATE2, 0, Create2Response(sub.path or "", sub.stat))
        if t == OpCode.SET_DATA:
            return (t, 0, SetDataResponse(sub.stat))
        return (t, 0, None)  # delete, check

    # ---- reads -----------------------------------------------------------------------

    def _node(self, path: str) -> Znode:
        node = self.tree.get(path)
        if node is None:
            raise KeeperError(Code.NONODE, path)
        return node

    def _check(self, node: Znode, perm: int, req: Request) -> None:
        check_acl(node.acl, perm, req.auth, self.skip_acl)

    def _get_data(self, req: Request, path: str, watch: bool) -> GetDataResponse:
        node = self._node(path)
        self._check(node, Perms.READ, req)
        if watch and req.origin is not None:
            self.tree.data_watches.add(path, req.origin)
        return GetDataResponse(node.data, node.stat())

    def _children_node(self, req: Request, path: str, watch: bool) -> Znode:
        node = self._node(path)
        self._check(node, Perms.READ, req)
        if watch and req.origin is not None:
            self.tree.child_watches.add(path, req.origin)
        return node

    def _get_children(self, req: Request, path: str, watch: bool) -> tuple[list[str], Znode]:
        node = self._children_node(req, path, watch)
        return node.children_in_java_order(), node

    def _get_acl(self, req: Request, path: str) -> GetACLResponse:
        node = self._node(path)
        self._check(node, Perms.READ | Perms.ADMIN, req)
        try:
            self._check(node, Perms.ADMIN, req)
            return GetACLResponse(list(node.acl), node.stat())
        except KeeperError:
            return GetACLResponse(redact_digests(node.acl), node.stat())

    def _multi_read(self, req: Request, rec: MultiRequest) -> MultiResponse:
        results: list[tuple[int, int, Any]] = []
        for op_type, op in rec.ops:
            try:
                if op_type == OpCode.GET_CHILDREN:
                    results.append((op_type, 0, GetChildrenResponse(self._get_children(req, op.path, op.watch)[0])))
                else:
                    results.append((op_type, 0, self._get_data(req, op.path, op.watch)))
            except KeeperError as e:
                results.append((OpCode.ERROR, e.code, ErrorResponse(e.code)))
        return MultiResponse(results)

    # ---- watch management --------------------------------------------------------------

    def _notify_one(self, watcher: Any, etype: EventType, path: str) -> None:
        # setWatches' catch-up events are not ACL-filtered in ZooKeeper.
        self.tree.events.append((watcher, WatcherEvent(etype, KeeperState.SYNC_CONNECTED, path), None))

    def _set_watches(self, req: Request, rec: Any) -> None:
        lists = [rec.dataWatches, rec.existWatches, rec.childWatches]
        if isinstance(rec, SetWatches2):
            lists += [rec.persistentWatches, rec.persistentRecursiveWatches]
        if any(lst is None for lst in lists):
            raise KeeperError(Code.MARSHALLINGERROR)  # ZooKeeper can't walk a null list
        w = req.origin
        if w is None:
            return
        tree = self.tree
        rel = rec.relativeZxid
        for path in rec.dataWatches:
            node = tree.get(path)
            if node is None:
                self._notify_one(w, EventType.NODE_DELETED, path)
            elif node.mzxid > rel:
                self._notify_one(w, EventType.NODE_DATA_CHANGED, path)
            else:
                tree.data_watches.add(path, w)
        for path in rec.existWatches:
            if tree.get(path) is not None:
                self._notify_one(w, EventType.NODE_CREATED, path)
            else:
                tree.data_watches.add(path, w)
        for path in rec.childWatches:
            node = tree.get(path)
            if node is None:
                self._notify_one(w, EventType.NODE_DELETED, path)
            elif node.pzxid > rel:
                self._notify_one(w, EventType.NODE_CHILDREN_CHANGED, path)
            else:
                tree.child_watches.add(path, w)
        if isinstance(rec, SetWatches2):
            for path in rec.persistentWatches:
                tree.child_watches.add(path, w, wm.PERSISTENT)
                tree.data_watches.add(path, w, wm.PERSISTENT)
            for path in rec.persistentRecursiveWatches:
                tree.child_watches.add(path, w, wm.RECURSIVE)
                tree.data_watches.add(path, w, wm.RECURSIVE)

    def _watch_query(self, req: Request, path: str, wtype: int, remove: bool) -> bool:
        """checkWatches/removeWatches for the asking connection."""
        if wtype == WatcherType.CHILDREN:
            managers = [self.tree.child_watches]
        elif wtype == WatcherType.DATA:
            managers = [self.tree.data_watches]
        elif wtype == WatcherType.ANY:
            managers = [self.tree.child_watches, self.tree.data_watches]
        else:
            # ZooKeeper 3.8 knows only Children/Data/Any here; its decode failure of
            # any other type surfaces as MARSHALLINGERROR.
            raise KeeperError(Code.MARSHALLINGERROR, path)
        if not remove and path and "/" not in path:
            # ZooKeeper 3.8 walks the path's parents here and fails on a relative path.
            raise KeeperError(Code.MARSHALLINGERROR, path)
        found = False
        for m in managers:
            if remove:
                found = m.remove(path, req.origin) or found
            else:
                found = m.has_watches(path) or found
        return found
