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
from ..jute.multi import READ_OP_RECORDS, WRITE_OP_RECORDS, MultiRequest
from ..types import OpCode

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
}


def is_known(op: int) -> bool:
    return op in REQUEST_RECORDS


def decode_request(op: int, r: Reader) -> Any:
    """The request record of a known opcode (JuteError if malformed)."""
    if op == OpCode.MULTI:
        return MultiRequest.read_ops(r, WRITE_OP_RECORDS)
    if op == OpCode.MULTI_READ:
        return MultiRequest.read_ops(r, READ_OP_RECORDS)
    record_type = REQUEST_RECORDS[op]
    return record_type.read(r) if record_type is not None else None
