"""Prep: validate a request against the tree-to-be and turn writes into transactions.

The rules and their order are ZooKeeper's PrepRequestProcessor: each failure that
ZooKeeper detects first is detected first here, because clients see which error wins.
A failed write still consumes a zxid and is logged as an ErrorTxn, as in ZooKeeper.
Pure: the time is passed in; zxids come from this object's counter.
"""

from __future__ import annotations

from typing import Any

from ..errors import Code, KeeperError
from ..jute import (
    ACL, CheckVersionRequest, CheckVersionTxn, CloseSessionTxn, CreateContainerTxn,
    CreateRequest, CreateSessionTxn, CreateTTLRequest, CreateTTLTxn, CreateTxn, DeleteRequest,
    DeleteTxn, ErrorTxn, MultiTxn, SetACLRequest, SetACLTxn, SetDataRequest, SetDataTxn,
    Txn, TxnHeader,
)
from ..jute.schema import encode
from ..paths import path_problem
from ..proto.requests import Malformed
from ..session.tracker import SessionTracker
from ..tree.acl import check_acl, fixup_acl
from ..tree.datatree import SPECIAL_PATHS
from ..types import (
    CONTAINER_EPHEMERAL_OWNER, TTL_MAX_MS, CreateMode, OpCode, Perms, ttl_ephemeral_owner, ttl_of_owner,
)
from .changes import ChangeRecord, NodeState, OutstandingChanges
from .request import Prepared, Request


class _MultiUnreadable(Exception):
    """A multi op whose body doesn't fit its type: the whole multi is a MARSHALLINGERROR."""


def _parent(path: str, last_slash: int) -> str:
    return path[:last_slash] or "/"


def _check_version(current: int, expected: int, path: str) -> int:
    if expected != -1 and expected != current:
        raise KeeperError(Code.BADVERSION, path)
    return current + 1


def _validate(path: str) -> None:
    if path_problem(path) is not None:
        raise KeeperError(Code.BADARGUMENTS, path)


def _is_session_owner(owner: int) -> bool:
    """A plain ephemeral: owned by a session, not a container or TTL marker."""
    return owner != 0 and owner != CONTAINER_EPHEMERAL_OWNER and ttl_of_owner(owner) is None


class Prep:
    def __init__(self, changes: OutstandingChanges, sessions: SessionTracker, *,
                 last_zxid: int = 0, extended_types: bool = False, skip_acl: bool = False) -> None:
        self.changes = changes
        self.sessions = sessions
        self.last_zxid = last_zxid
        self.extended_types = extended_types
        self.skip_acl = skip_acl

    def next_zxid(self) -> int:
        self.last_zxid += 1
        return self.last_zxid

    def prepare(self, req: Request, now_ms: int) -> Prepared:
        out = Prepared(req)
        try:
            if req.type == OpCode.MULTI:
                self._prepare_multi(req, out, now_ms)
            elif req.is_write:
                out.hdr = TxnHeader(req.session_id, req.cxid, self.next_zxid(), now_ms, req.type)
                out.txn = self._to_txn(req.type, req, req.record, out.hdr)
            else:
                self.sessions.check(req.session_id)
        except KeeperError as e:
            out.error = e
            if out.hdr is not None:
                out.hdr = TxnHeader(out.hdr.clientId, out.hdr.cxid, out.hdr.zxid, out.hdr.time, OpCode.ERROR)
                out.txn = ErrorTxn(e.code)
        return out

    def _acl(self, acl: list[ACL], perm: int, req: Request) -> None:
        check_acl(acl, perm, req.auth, self.skip_acl)

    def _to_txn(self, type_: int, req: Request, rec: Any, hdr: TxnHeader) -> Any:
        if isinstance(rec, Malformed):
            raise KeeperError(Code.MARSHALLINGERROR)
        if type_ in (OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_TTL, OpCode.CREATE_CONTAINER):
            return self._create(type_, req, rec, hdr)
        if type_ == OpCode.DELETE_CONTAINER:
            return self._delete_container(rec, hdr)
        if type_ == OpCode.DELETE:
            return self._delete(req, rec, hdr)
        if type_ == OpCode.SET_DATA:
            return self._set_data(req, rec, hdr)
        if type_ == OpCode.SET_ACL:
            return self._set_acl(req, rec, hdr)
        if type_ == OpCode.CHECK:
            return self._check(req, rec)
        if type_ == OpCode.CREATE_SESSION:
            # The driver registered the session with the tracker before submitting.
            return CreateSessionTxn(rec)
        if type_ == OpCode.CLOSE_SESSION:
            return self._close_session(req, hdr)
        if type_ == OpCode.RECONFIG:
            raise KeeperError(Code.RECONFIGDISABLED)
        raise KeeperError(Code.UNIMPLEMENTED)

    # ---- each write ------------------------------------------------------------

    def _create(self, type_: int, req: Request, rec: CreateRequest | CreateTTLRequest, hdr: TxnHeader) -> Any:
        if type_ == OpCode.CREATE_TTL and not isinstance(rec, CreateTTLRequest):
            raise _MultiUnreadable()
        ttl = rec.ttl if isinstance(rec, CreateTTLRequest) else -1
        try:
            mode = CreateMode(rec.flags)
        except ValueError:
            raise KeeperError(Code.BADARGUMENTS, rec.path) from None
        path = rec.path
        if mode.is_ttl and not self.extended_types:
            raise KeeperError(Code.UNIMPLEMENTED, path)
        if mode.is_ttl:
            if ttl <= 0 or ttl > TTL_MAX_MS:
                raise KeeperError(Code.BADARGUMENTS, path)
        elif ttl >= 0 or type_ == OpCode.CREATE_TTL:
            # A createTTL whose flags aren't a TTL mode: ZooKeeper 3.8 lets a negative
            # ttl through here and then fails applying it, taking the server down.
            raise KeeperError(Code.BADARGUMENTS, path)
        self.sessions.check(req.session_id)
        last_slash = path.rfind("/") if path is not None else -1
        if last_slash == -1 or "\0" in path:
            raise KeeperError(Code.BADARGUMENTS, path)
        parent_path = _parent(path, last_slash)
        acl = fixup_acl(path, req.auth, rec.acl)
        parent = self.changes.record_for(parent_path)
        assert parent.state is not None
        self._acl(parent.acl, Perms.CREATE, req)
        if mode.is_sequential:
            path = f"{path}{parent.state.cversion:010d}"
        _validate(path)
        existing = self.changes.lookup(path)
        if existing is not None and existing.state is not None:
            raise KeeperError(Code.NODEEXISTS, path)
        if _is_session_owner(parent.state.ephemeral_owner):
            raise KeeperError(Code.NOCHILDRENFOREPHEMERALS, path)
        new_cversion = parent.state.cversion + 1
        if type_ == OpCode.CREATE_CONTAINER:
            txn: Any = CreateContainerTxn(path, rec.data, acl, new_cversion)
        elif type_ == OpCode.CREATE_TTL:
            txn = CreateTTLTxn(path, rec.data, acl, new_cversion, ttl)
        else:
            txn = CreateTxn(path, rec.data, acl, mode.is_ephemeral, new_cversion)
        if mode.is_container:
            owner = CONTAINER_EPHEMERAL_OWNER
        elif mode.is_ttl:
            owner = ttl_ephemeral_owner(ttl)
        elif mode.is_ephemeral:
            owner = req.session_id
        else:
            owner = 0
        parent = parent.duplicate(hdr.zxid)
        assert parent.state is not None
        parent.child_count += 1
        parent.state.cversion = new_cversion
        parent.state.pzxid = hdr.zxid
        self.changes.add(parent)
        self.changes.add(ChangeRecord(hdr.zxid, path, NodeState(0, 0, 0, owner, hdr.zxid), 0, acl))
        return txn

    def _parent_for_delete(self, path: str) -> str:
        last_slash = path.rfind("/") if path is not None else -1
        if last_slash == -1 or "\0" in path or path in SPECIAL_PATHS:
            raise KeeperError(Code.BADARGUMENTS, path)
        return _parent(path, last_slash)

    def _record_delete(self, parent: ChangeRecord, path: str, zxid: int) -> None:
        parent = parent.duplicate(zxid)
        assert parent.state is not None
        parent.child_count -= 1
        parent.state.pzxid = zxid
        self.changes.add(parent)
        self.changes.add(ChangeRecord(zxid, path, None, -1, []))

    def _delete(self, req: Request, rec: DeleteRequest, hdr: TxnHeader) -> DeleteTxn:
        self.sessions.check(req.session_id)
        path = rec.path
        parent_path = self._parent_for_delete(path)
        parent = self.changes.record_for(parent_path)
        self._acl(parent.acl, Perms.DELETE, req)
        node = self.changes.record_for(path)
        assert node.state is not None
        _check_version(node.state.version, rec.version, path)
        if node.child_count > 0:
            raise KeeperError(Code.NOTEMPTY, path)
        self._record_delete(parent, path, hdr.zxid)
        return DeleteTxn(path)

    def _delete_container(self, path: str, hdr: TxnHeader) -> DeleteTxn:
        parent_path = self._parent_for_delete(path)
        node = self.changes.record_for(path)
        assert node.state is not None
        if node.child_count > 0:
            raise KeeperError(Code.NOTEMPTY, path)
        if _is_session_owner(node.state.ephemeral_owner) or node.state.ephemeral_owner == 0:
            raise KeeperError(Code.BADVERSION, path)
        parent = self.changes.record_for(parent_path)
        self._record_delete(parent, path, hdr.zxid)
        return DeleteTxn(path)

    def _set_data(self, req: Request, rec: SetDataRequest, hdr: TxnHeader) -> SetDataTxn:
        self.sessions.check(req.session_id)
        path = rec.path
        _validate(path)
        node = self.changes.record_for(path)
        self._acl(node.acl, Perms.WRITE, req)
        assert node.state is not None
        version = _check_version(node.state.version, rec.version, path)
        node = node.duplicate(hdr.zxid)
        assert node.state is not None
        node.state.version = version
        self.changes.add(node)
        return SetDataTxn(path, rec.data, version)

    def _set_acl(self, req: Request, rec: SetACLRequest, hdr: TxnHeader) -> SetACLTxn:
        self.sessions.check(req.session_id)
        path = rec.path
        _validate(path)
        acl = fixup_acl(path, req.auth, rec.acl)
        node = self.changes.record_for(path)
        self._acl(node.acl, Perms.ADMIN, req)
        assert node.state is not None
        version = _check_version(node.state.aversion, rec.version, path)
        node = node.duplicate(hdr.zxid)
        assert node.state is not None
        node.state.aversion = version
        node.acl = acl
        self.changes.add(node)
        return SetACLTxn(path, acl, version)

    def _check(self, req: Request, rec: CheckVersionRequest) -> CheckVersionTxn:
        self.sessions.check(req.session_id)
        path = rec.path
        _validate(path)
        node = self.changes.record_for(path)
        self._acl(node.acl, Perms.READ, req)
        assert node.state is not None
        return CheckVersionTxn(path, _check_version(node.state.version, rec.version, path))

    def _close_session(self, req: Request, hdr: TxnHeader) -> CloseSessionTxn:
        # No session check: expiry closes sessions it does not own.
        paths = self.changes.session_ephemerals(req.session_id)
        for path in paths:
            self.changes.add(ChangeRecord(hdr.zxid, path, None, 0, []))
        self.sessions.set_closing(req.session_id)
        return CloseSessionTxn(paths)

    # ---- multi -------------------------------------------------------------------

    def _prepare_multi(self, req: Request, out: Prepared, now_ms: int) -> None:
        zxid = self.next_zxid()
        hdr = TxnHeader(req.session_id, req.cxid, zxid, now_ms, OpCode.MULTI)
        out.hdr = hdr
        if isinstance(req.record, Malformed):
            raise KeeperError(Code.MARSHALLINGERROR)
        mark = self.changes.mark()
        txns: list[Txn] = []
        failed: KeeperError | None = None
        for op_type, op_rec in req.record.ops:
            if failed is not None:
                txns.append(Txn(OpCode.ERROR, encode(ErrorTxn(Code.RUNTIMEINCONSISTENCY))))
                continue
            try:
                sub = self._to_txn(op_type, req, op_rec, hdr)
                txns.append(Txn(op_type, encode(sub)))
            except KeeperError as e:
                failed = e
                txns.append(Txn(OpCode.ERROR, encode(ErrorTxn(e.code))))
                self.changes.rollback(mark)
            except _MultiUnreadable:
                # ZooKeeper fails the whole multi here (a ClassCastException in its prep).
                self.changes.rollback(mark)
                raise KeeperError(Code.MARSHALLINGERROR) from None
        out.txn = MultiTxn(txns)
        out.error = failed
