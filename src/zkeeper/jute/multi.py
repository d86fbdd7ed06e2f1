"""Framing of multi and multiRead: a sequence of (MultiHeader + record), then a done marker.

Request ops carry MultiHeader(type, false, -1); responses carry MultiHeader(type,
false, err) where a failed op has type -1 and an ErrorResponse body. The list ends
with MultiHeader(-1, true, -1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..types import OpCode
from .io import JuteError, Reader, Writer
from .records import (
    CheckVersionRequest, Create2Response, CreateRequest, CreateResponse, CreateTTLRequest,
    DeleteRequest, ErrorResponse, GetChildrenRequest, GetChildrenResponse, GetDataRequest,
    GetDataResponse, MultiHeader, SetDataRequest, SetDataResponse,
)

WRITE_OP_RECORDS: dict[int, type] = {
    OpCode.CREATE: CreateRequest,
    OpCode.CREATE2: CreateRequest,
    OpCode.CREATE_CONTAINER: CreateRequest,
    OpCode.CREATE_TTL: CreateTTLRequest,
    OpCode.DELETE: DeleteRequest,
    OpCode.SET_DATA: SetDataRequest,
    OpCode.CHECK: CheckVersionRequest,
}
READ_OP_RECORDS: dict[int, type] = {
    OpCode.GET_CHILDREN: GetChildrenRequest,
    OpCode.GET_DATA: GetDataRequest,
}
OP_RECORDS: dict[int, type] = {**WRITE_OP_RECORDS, **READ_OP_RECORDS}
# The body type of each successful op result; None = no body.
RESULT_RECORDS: dict[int, type | None] = {
    OpCode.CREATE: CreateResponse,
    OpCode.CREATE2: Create2Response,
    OpCode.CREATE_TTL: Create2Response,
    OpCode.CREATE_CONTAINER: Create2Response,
    OpCode.DELETE: None,
    OpCode.DELETE_CONTAINER: None,
    OpCode.SET_DATA: SetDataResponse,
    OpCode.CHECK: None,
    OpCode.GET_CHILDREN: GetChildrenResponse,
    OpCode.GET_DATA: GetDataResponse,
    OpCode.ERROR: ErrorResponse,
}
_DONE = MultiHeader(-1, True, -1)
_MAX_OPS = 1 << 20  # a frame can't hold more; guards the loop


@dataclass(frozen=True, slots=True)
class MultiRequest:
    ops: list[tuple[int, Any]]  # (opcode, request record)

    @classmethod
    def read(cls, r: Reader) -> MultiRequest:
        ops: list[tuple[int, Any]] = []
        while True:
            h = MultiHeader.read(r)  # type: ignore[attr-defined]
            if h.done:
                return cls(ops)
            record_type = OP_RECORDS.get(h.type)
            if record_type is None:
                raise JuteError(f"invalid op type {h.type} in multi")
            ops.append((h.type, record_type.read(r)))
            if len(ops) > _MAX_OPS:
                raise JuteError("too many ops in multi")

    def write(self, w: Writer) -> None:
        for op_type, rec in self.ops:
            MultiHeader(op_type, False, -1).write(w)  # type: ignore[attr-defined]
            rec.write(w)
        _DONE.write(w)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class MultiResponse:
    results: list[tuple[int, int, Any]]  # (opcode or -1, err, body record or None)

    def write(self, w: Writer) -> None:
        for op_type, err, body in self.results:
            MultiHeader(op_type, False, err).write(w)  # type: ignore[attr-defined]
            if body is not None:
                body.write(w)
        _DONE.write(w)  # type: ignore[attr-defined]

    @classmethod
    def read(cls, r: Reader) -> MultiResponse:
        results: list[tuple[int, int, Any]] = []
        while True:
            h = MultiHeader.read(r)  # type: ignore[attr-defined]
            if h.done:
                return cls(results)
            if h.type not in RESULT_RECORDS:
                raise JuteError(f"invalid result type {h.type} in multi response")
            record_type = RESULT_RECORDS[h.type]
            results.append((h.type, h.err, record_type.read(r) if record_type else None))
            if len(results) > _MAX_OPS:
                raise JuteError("too many results in multi response")
