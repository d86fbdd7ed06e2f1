"""Replaying logged txns onto a tree loaded from a (possibly fuzzy) snapshot.

ZooKeeper snapshots while it keeps applying txns, so a snapshot named at zxid Z may
already contain effects of txns after Z. Recovery replays every txn after Z anyway,
and a replayed txn must then be harmless. ZooKeeper gets that from DataTree.processTxn
swallowing NoNode/NodeExists per (sub-)txn, with two side effects we must reproduce:

* a `create` (opcode 1 only) that finds its node present still raises the parent's
  cversion/pzxid to the txn's values (setCversionPzxid), if they are higher;
* a `delete` whose node is gone still raises the parent's pzxid.

Our DataTree.apply expects valid txns (it asserts), so this module checks each
elementary op first and only hands valid ones to `tree.apply`. It also keeps the
session table (createSession/closeSession) and, optionally, the tree digest, so the
digests ZooKeeper logged can be compared with what we rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..jute import CloseSessionTxn, JuteError, MultiTxn, TxnDigest, TxnHeader
from ..jute.schema import decode
from ..paths import basename, parent_of
from ..tree.datatree import DataTree
from ..types import OpCode
from .digest import ZxidDigest, paths_digest, to_signed64
from .digest import tree_digest as digest_of
from .format import DIGEST_VERSION, TXN_RECORD_TYPES, FormatError

_CREATES = frozenset({OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_TTL, OpCode.CREATE_CONTAINER})
_DELETES = frozenset({OpCode.DELETE, OpCode.DELETE_CONTAINER})


@dataclass(slots=True)
class DigestCheck:
    """Outcome of comparing logged digests with the replayed tree."""

    checked: int = 0
    mismatches: list[int] = field(default_factory=list)  # zxids whose digest differed


def track_session(sessions: dict[int, int], hdr: TxnHeader, txn: Any) -> None:
    """What a txn does to the session table (id -> timeout): createSession adds, closeSession removes."""
    if hdr.type == OpCode.CREATE_SESSION:
        sessions[hdr.clientId] = txn.timeOut
    elif hdr.type == OpCode.CLOSE_SESSION:
        sessions.pop(hdr.clientId, None)


class Replayer:
    """Applies txns in zxid order to `tree` and `sessions` (id -> timeout)."""

    def __init__(self, tree: DataTree, sessions: dict[int, int], *, verify_digests: bool = False,
                 snapshot_digest: ZxidDigest | None = None, tree_digest: int | None = None) -> None:
        """`tree_digest`: the digest of `tree` if already known (the snapshot loader
        computes it while reading), so that it need not be computed again."""
        self.tree = tree
        self.sessions = sessions
        self.verify = verify_digests
        self.digest = 0
        if verify_digests:
            self.digest = digest_of(tree) if tree_digest is None else to_signed64(tree_digest)
        self.check = DigestCheck()
        # As DataTree.deserializeZxidDigest: while the snapshot's own digest has not been
        # reached the tree is fuzzy and per-txn digests are not comparable. A digest
        # older than the snapshot's zxid cannot be reached and is ignored.
        self.pending: ZxidDigest | None = None
        if verify_digests and snapshot_digest is not None and snapshot_digest.zxid > 0 \
                and snapshot_digest.zxid >= tree.last_processed_zxid:
            self.pending = snapshot_digest
            if snapshot_digest.zxid == tree.last_processed_zxid:
                self._compare_snapshot_digest(snapshot_digest.zxid)

    # ---- digest bookkeeping -------------------------------------------------------

    def _compare_snapshot_digest(self, zxid: int) -> None:
        pending = self.pending
        assert pending is not None
        if pending.version == DIGEST_VERSION:
            self.check.checked += 1
            if pending.digest != self.digest:
                self.check.mismatches.append(zxid)
        self.pending = None

    def _touched(self, hdr: TxnHeader, ops: list[tuple[int, Any]]) -> set[str]:
        """Every node whose persisted stat or data these ops may change."""
        out: set[str] = set()
        for type_, rec in ops:
            if type_ == OpCode.CLOSE_SESSION:
                paths = list(rec.paths2Delete or []) if rec is not None else []
                paths += self.tree.ephemeral_paths(hdr.clientId)
                for p in paths:
                    out.add(p)
                    out.add(parent_of(p))
            elif type_ in _CREATES or type_ in _DELETES:
                out.add(rec.path)
                out.add(parent_of(rec.path))
            elif type_ in (OpCode.SET_DATA, OpCode.SET_ACL, OpCode.RECONFIG):
                out.add(rec.path)
        return out

    # ---- applying ----------------------------------------------------------------

    def _ops(self, hdr: TxnHeader, txn: Any) -> list[tuple[int, Any]]:
        """The elementary ops of a txn; a multi that failed (holds an error) has none."""
        if hdr.type != OpCode.MULTI:
            return [(hdr.type, txn)]
        assert isinstance(txn, MultiTxn)
        if any(sub.type == OpCode.ERROR for sub in txn.txns):
            return []
        try:
            return [(sub.type, decode(TXN_RECORD_TYPES[sub.type], sub.data)) for sub in txn.txns]
        except (KeyError, JuteError) as e:
            raise FormatError(f"bad sub-txn in multi 0x{hdr.zxid:x}: {e!r}") from None

    def replay(self, hdr: TxnHeader, txn: Any, digest: TxnDigest | None = None) -> None:
        track_session(self.sessions, hdr, txn)
        ops = self._ops(hdr, txn)
        touched: set[str] = set()
        before = 0
        if self.verify:
            touched = self._touched(hdr, ops)
            before = paths_digest(self.tree, touched)
        for type_, rec in ops:
            self._apply_op(type_, hdr, rec)
        if hdr.zxid > self.tree.last_processed_zxid:
            self.tree.last_processed_zxid = hdr.zxid
        if not self.verify:
            return
        self.digest = to_signed64(self.digest - before + paths_digest(self.tree, touched))
        if self.pending is not None:
            if hdr.zxid == self.pending.zxid:
                self._compare_snapshot_digest(hdr.zxid)
            else:
                return  # still fuzzy: ZooKeeper does not compare yet either
        if digest is not None and digest.version == DIGEST_VERSION:
            self.check.checked += 1
            if digest.treeDigest != self.digest:
                self.check.mismatches.append(hdr.zxid)

    def _apply_op(self, type_: int, hdr: TxnHeader, rec: Any) -> None:
        tree = self.tree
        nodes = tree.nodes
        zxid = hdr.zxid
        sub = hdr if hdr.type == type_ else TxnHeader(hdr.clientId, hdr.cxid, zxid, hdr.time, type_)
        if type_ in _CREATES:
            parent = nodes.get(parent_of(rec.path))
            if parent is None:
                return  # NoNode: ZooKeeper ignores it during replay
            if basename(rec.path) in parent.children:
                if type_ == OpCode.CREATE:
                    # processTxn's NodeExists fix-up, for opcode `create` only.
                    cversion = rec.parentCVersion
                    if cversion == -1:
                        cversion = parent.cversion + 1
                    if cversion > parent.cversion:
                        parent.cversion = cversion
                        parent.pzxid = zxid
                return
            tree.apply(sub, rec)
        elif type_ in _DELETES:
            self._delete(rec.path, zxid, sub, rec)
        elif type_ in (OpCode.SET_DATA, OpCode.RECONFIG):
            if rec.path in nodes:
                as_set = sub if type_ == OpCode.SET_DATA else TxnHeader(
                    hdr.clientId, hdr.cxid, zxid, hdr.time, OpCode.SET_DATA)
                tree.apply(as_set, rec)
        elif type_ == OpCode.SET_ACL:
            if rec.path in nodes:
                tree.apply(sub, rec)
        elif type_ == OpCode.CLOSE_SESSION:
            self._close_session(hdr, rec)
        # createSession, check and error change no node.

    def _delete(self, path: str, zxid: int, hdr: TxnHeader | None = None, rec: Any = None) -> None:
        nodes = self.tree.nodes
        parent = nodes.get(parent_of(path))
        if parent is None:
            return
        if path not in nodes or basename(path) not in parent.children:
            # deleteNode updates the parent's pzxid before it finds the child missing.
            parent.remove_child(basename(path))
            if zxid > parent.pzxid:
                parent.pzxid = zxid
            return
        if hdr is not None:
            self.tree.apply(hdr, rec)
        else:
            self.tree.delete_node(path, zxid)

    def _close_session(self, hdr: TxnHeader, rec: CloseSessionTxn | None) -> None:
        """DataTree.killSession: the txn's paths first, then any ephemerals of the
        session the txn did not list, each delete tolerant of a missing node."""
        sid = hdr.clientId
        local = self.tree.ephemerals.pop(sid, None)
        local_paths = local.order() if local is not None else []
        listed = list(rec.paths2Delete) if rec is not None and rec.paths2Delete is not None else None
        if listed is not None:
            for path in listed:
                self._delete(path, hdr.zxid)
            seen = set(listed)
            local_paths = [p for p in local_paths if p not in seen]
        for path in local_paths:
            self._delete(path, hdr.zxid)
