"""The steps a differential run sends: one client action on one session slot each.

A step is plain data, so the same step can be replayed on two servers and printed in
a failure message. Slots are small integers; each slot holds at most one session at a
time, and a slot may hold several sessions one after another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from zkeeper.errors import Code
from zkeeper.types import OpCode


@dataclass(frozen=True)
class Request:
    """One numbered request; for multi/multiRead `record` is a list of (opcode, record)."""

    slot: int
    opcode: int
    record: Any = None

    def describe(self) -> str:
        name = _op_name(self.opcode)
        if isinstance(self.record, list):
            inner = ", ".join(f"{_op_name(op)}({_fields(rec)})" for op, rec in self.record)
            return f"slot{self.slot} {name}[{inner}]"
        return f"slot{self.slot} {name}({_fields(self.record)})"


@dataclass(frozen=True)
class Together:
    """Requests sent one after another with no ping in between, so that the watch events
    one of them causes are still in flight when the next one is answered."""

    requests: tuple[Request, ...]

    def describe(self) -> str:
        return "together[" + "; ".join(r.describe() for r in self.requests) + "]"


@dataclass(frozen=True)
class AddAuth:
    slot: int
    scheme: str
    credentials: bytes

    def describe(self) -> str:
        return f"slot{self.slot} addauth {self.scheme} {self.credentials!r}"


@dataclass(frozen=True)
class Open:
    """Connect a new session on an empty slot, asking for `timeout_ms`."""

    slot: int
    timeout_ms: int

    def describe(self) -> str:
        return f"slot{self.slot} open session timeout={self.timeout_ms}ms"


@dataclass(frozen=True)
class Close:
    """closeSession, then wait for the server to drop the connection."""

    slot: int

    def describe(self) -> str:
        return f"slot{self.slot} closeSession"


@dataclass(frozen=True)
class Disconnect:
    """Drop the TCP connection; the session lives on until it is resumed or expires."""

    slot: int

    def describe(self) -> str:
        return f"slot{self.slot} drop connection"


@dataclass(frozen=True)
class Reconnect:
    """Resume the slot's session on a new connection, then SetWatches and replay auth.

    The watches sent are the ones the client holds (as the Java client tracks them)
    plus `extra_*` paths, relative to the last zxid the client saw minus `rewind_zxid`;
    `bad_password_first` first tries the session with a wrong password. SetWatches2
    (105) is used when the client holds persistent watches or `prefer_set_watches2` is
    set, else SetWatches (101).
    """

    slot: int
    bad_password_first: bool = False
    prefer_set_watches2: bool = False
    rewind_zxid: int = 0
    extra_data: tuple[str, ...] = ()
    extra_exist: tuple[str, ...] = ()
    extra_child: tuple[str, ...] = ()

    def describe(self) -> str:
        extras = [f"{k}={v}" for k, v in (("data", self.extra_data), ("exist", self.extra_exist),
                                          ("child", self.extra_child)) if v]
        flags = [f for f, on in (("bad-password-first", self.bad_password_first),
                                 ("setWatches2", self.prefer_set_watches2)) if on]
        if self.rewind_zxid:
            flags.append(f"relativeZxid=last-{self.rewind_zxid}")
        return f"slot{self.slot} reconnect {' '.join(flags + extras)}".rstrip()


@dataclass(frozen=True)
class Expire:
    """Stop talking on the slot's session until the server expires it."""

    slot: int

    def describe(self) -> str:
        return f"slot{self.slot} go silent until the session expires"


@dataclass(frozen=True)
class Resume:
    """Try to resume the slot's last, closed or expired, session: the server must refuse."""

    slot: int

    def describe(self) -> str:
        return f"slot{self.slot} try to resume the dead session"


Step = Union[Request, Together, AddAuth, Open, Close, Disconnect, Reconnect, Expire, Resume]

# Steps after which the order of watch events is not defined by ZooKeeper: a closing
# session's ephemerals are deleted in hash-set order.
UNORDERED_EVENT_STEPS = (Close, Expire)


@dataclass(frozen=True)
class Entry:
    """One observation on one slot: a reply, a watch event, a ping reply, a connect result."""

    slot: int
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self.data.items())
        return f"slot{self.slot} {self.kind:<8} {body}"


def code_name(err: int) -> str:
    try:
        return Code(err).name
    except ValueError:
        return str(err)


def _op_name(opcode: int) -> str:
    try:
        return OpCode(opcode).name.lower()
    except ValueError:
        return str(opcode)


def _fields(record: Any) -> str:
    if record is None:
        return ""
    names = getattr(record, "__dataclass_fields__", None)
    if not names:
        return repr(record)
    return ", ".join(f"{n}={getattr(record, n)!r}" for n in names)
