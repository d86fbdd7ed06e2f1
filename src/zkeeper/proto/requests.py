"""Which record follows the RequestHeader for each opcode, and how to decode it."""

from __future__ import annotations

from typing import Any

from ..jute import (
    AddWatchRequest, AuthPacket, CheckVersionRequest, CheckWatchesRequest, CreateRequest,
    CreateTTLRequest, DeleteRequest, ExistsRequest, GetACLRequest, GetAllChildrenNumberRequest,
    GetChildren2Request, GetChildrenRequest, GetDataRequest, GetEphemeralsRequest, Reader,
    ReconfigRequest, RemoveWatchesRequest, SetACLRequest, SetDataRequest, SetWatches,
    SetWatches2, SyncRequest,
)
from ..jute import JuteError
from ..jute.multi import READ_OP_RECORDS, MultiRequest
from ..types import CreateMode, OpCode

REQUEST_RECORDS: dict[int, type | None] = {
    OpCode.CREATE: CreateRequest,
    OpCode.CREATE2: CreateRequest,
    OpCode.CREATE_CONTAINER: CreateRequest,
    OpCode.CREATE_TTL: CreateTTLRequest,
    OpCode.DELETE: DeleteRequest,
    OpCode.EXISTS: ExistsRequest,
    OpCode.GET_DATA: GetDataRequest,
    OpCode.SET_DATA: SetDataRequest,
    OpCode.GET_ACL: GetACLRequest,
    OpCode.SET_ACL: SetACLRequest,
    OpCode.GET_CHILDREN: GetChildrenRequest,
    OpCode.GET_CHILDREN2: GetChildren2Request,
    OpCode.SYNC: SyncRequest,
    OpCode.CHECK: CheckVersionRequest,
    OpCode.RECONFIG: ReconfigRequest,
    OpCode.CHECK_WATCHES: CheckWatchesRequest,
    OpCode.REMOVE_WATCHES: RemoveWatchesRequest,
    OpCode.GET_EPHEMERALS: GetEphemeralsRequest,
    OpCode.GET_ALL_CHILDREN_NUMBER: GetAllChildrenNumberRequest,
    OpCode.ADD_WATCH: AddWatchRequest,
    OpCode.AUTH: AuthPacket,
    OpCode.SET_WATCHES: SetWatches,
    OpCode.SET_WATCHES2: SetWatches2,
    OpCode.PING: None,
    OpCode.CLOSE_SESSION: None,
    OpCode.WHO_AM_I: None,
    OpCode.MULTI: None,  # framed; see decode_request
    OpCode.MULTI_READ: None,
    OpCode.DELETE_CONTAINER: None,  # see decode_request
    OpCode.CREATE_SESSION: None,
}


class Malformed:
    """A request body ZooKeeper could not deserialize: answered MARSHALLINGERROR (a
    write still consumes a zxid), the connection stays open."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Malformed({self.reason!r})"


def is_known(op: int) -> bool:
    return op in REQUEST_RECORDS


def decode_request(op: int, r: Reader) -> Any:
    """The request record of a known opcode, or Malformed if its body is bad."""
    if op == OpCode.DELETE_CONTAINER:
        # ZooKeeper reads this server-internal request's path from the whole frame
        # buffer, header included; from a client that is never a valid path.
        return bytes(r.buf[: r.end]).decode("utf-8", "replace")
    if op == OpCode.CREATE_SESSION:
        return Malformed("createSession is not a request a connected client can send")
    try:
        if op in (OpCode.MULTI, OpCode.MULTI_READ):
            return normalize_multi(op, MultiRequest.read(r))
        record_type = REQUEST_RECORDS[op]
        return record_type.read(r) if record_type is not None else None
    except (JuteError, IndexError, ValueError, UnicodeDecodeError) as e:
        return Malformed(str(e))


def _mode(flags: int) -> CreateMode:
    """CreateMode.fromFlag(flags, PERSISTENT): unknown flags read as PERSISTENT here."""
    try:
        return CreateMode(flags)
    except ValueError:
        return CreateMode.PERSISTENT


def normalize_multi(op: int, multi: MultiRequest) -> MultiRequest | Malformed:
    """Reshape a multi as ZooKeeper 3.8's MultiOperationRecord rebuilds it.

    Creates are re-typed from their flags (create2 becomes create, so its result has
    no Stat); a createTTL op without TTL flags becomes a plain create; a create with
    TTL flags keeps a CreateRequest body under the createTTL type, which prep rejects
    as ZooKeeper does (MARSHALLINGERROR). Reads and writes can't be mixed, and a
    multiRead's ops never set watches.
    """
    ops: list[tuple[int, Any]] = []
    reads = sum(1 for t, _ in multi.ops if t in READ_OP_RECORDS)
    if op == OpCode.MULTI_READ:
        if reads != len(multi.ops):
            return Malformed("write op in multiRead")
        for t, rec in multi.ops:
            ops.append((t, type(rec)(rec.path, False)))
        return MultiRequest(ops)
    if reads:
        return Malformed("read op in multi")
    for t, rec in multi.ops:
        if isinstance(rec, CreateTTLRequest):
            if _mode(rec.flags).is_ttl:
                ops.append((OpCode.CREATE_TTL, rec))
            else:
                ops.append((OpCode.CREATE, CreateRequest(rec.path, rec.data, rec.acl, rec.flags)))
        elif isinstance(rec, CreateRequest):
            mode = _mode(rec.flags)
            t = OpCode.CREATE_TTL if mode.is_ttl else OpCode.CREATE_CONTAINER if mode.is_container else OpCode.CREATE
            ops.append((t, rec))
        else:
            ops.append((t, rec))
    return MultiRequest(ops)
