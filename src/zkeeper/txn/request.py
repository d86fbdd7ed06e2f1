"""A client request as the processing pipeline sees it, and what prep makes of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable

from ..errors import KeeperError
from ..jute import Id, TxnHeader
from ..types import OpCode

# Requests that become transactions (and consume a zxid), as PrepRequestProcessor.
WRITE_OPS = frozenset({
    OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_TTL, OpCode.CREATE_CONTAINER,
    OpCode.DELETE, OpCode.DELETE_CONTAINER, OpCode.SET_DATA, OpCode.SET_ACL,
    OpCode.CHECK, OpCode.MULTI, OpCode.RECONFIG, OpCode.CREATE_SESSION, OpCode.CLOSE_SESSION,
})


@dataclass(slots=True)
class Request:
    session_id: int
    cxid: int
    type: int
    record: Any  # the decoded request body; None when the op has none
    auth: list[Id] = field(default_factory=list)
    # Who to answer and whose watches to register: the client connection, or None
    # for requests the server makes itself (expiry, container cleanup).
    origin: Hashable | None = None

    @property
    def is_write(self) -> bool:
        return self.type in WRITE_OPS


@dataclass(slots=True)
class Prepared:
    request: Request
    hdr: TxnHeader | None = None  # set for writes: what goes to the log
    txn: Any = None
    error: KeeperError | None = None  # a read or session check that already failed
