"""Which txn record follows a TxnHeader of each type: one table for the tree, the log
reader and the inspection tools (SerializeUtils.deserializeTxn in ZooKeeper)."""

from __future__ import annotations

from ..types import OpCode
from .records import (
    CheckVersionTxn, CloseSessionTxn, CreateContainerTxn, CreateSessionTxn, CreateTTLTxn, CreateTxn,
    DeleteTxn, ErrorTxn, MultiTxn, SetACLTxn, SetDataTxn,
)

# `check` is accepted too: ZooKeeper only logs it inside a multi, but it costs nothing.
TXN_RECORD_TYPES: dict[int, type] = {
    OpCode.CREATE_SESSION: CreateSessionTxn,
    OpCode.CLOSE_SESSION: CloseSessionTxn,
    OpCode.CREATE: CreateTxn,
    OpCode.CREATE2: CreateTxn,
    OpCode.CREATE_TTL: CreateTTLTxn,
    OpCode.CREATE_CONTAINER: CreateContainerTxn,
    OpCode.DELETE: DeleteTxn,
    OpCode.DELETE_CONTAINER: DeleteTxn,
    OpCode.RECONFIG: SetDataTxn,
    OpCode.SET_DATA: SetDataTxn,
    OpCode.SET_ACL: SetACLTxn,
    OpCode.ERROR: ErrorTxn,
    OpCode.MULTI: MultiTxn,
    OpCode.CHECK: CheckVersionTxn,
}
