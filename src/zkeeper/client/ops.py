"""Every request the client sends, as a small record that knows its own wire shape.

An op knows its opcode, how to write its body, how to read a successful reply, which
watch it leaves behind (and on which outcome), and whether sending it again after a
`ConnectionLoss` is safe. Paths in ops are the server's (chroot already added); the
chroot is passed to `parse` only to strip paths the server sends back.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..errors import Code
from ..jute.io import Reader, Writer
from ..jute.multi import MultiRequest
from ..jute.records import (
    ACL,
    AddWatchRequest,
    CheckVersionRequest,
    ClientInfo,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    ErrorResponse,
    ExistsRequest,
    GetACLRequest,
    GetAllChildrenNumberRequest,
    GetChildrenRequest,
    GetDataRequest,
    GetEphemeralsRequest,
    MultiHeader,
    ReconfigRequest,
    RemoveWatchesRequest,
    SetACLRequest,
    SetDataRequest,
    SyncRequest,
)
from ..types import AddWatchMode, CreateMode, OpCode, WatcherType
from .codec import get, put
from .exceptions import ProtocolError, RolledBackError, RuntimeInconsistency, ZookeeperError, error_for
from .hosts import Chroot
from .stat import ZnodeStat
from .watches import WatchKind

T = TypeVar("T")


class RetrySafety(enum.Enum):
    """What happens if an op is sent again because its first reply was lost."""

    SAFE = "safe"  # same outcome however often it runs: reads, unconditional set, watches
    MAY_REPORT_DONE = "may_report_done"  # harmless, but the retry can fail with NodeExists/
    # NoNode/BadVersion because the lost first try did succeed: create, delete, versioned set
    UNSAFE = "unsafe"  # can take effect twice: sequential create, multi


class Op(Generic[T]):
    __slots__ = ()
    opcode: OpCode
    retry: RetrySafety = RetrySafety.SAFE

    def write(self, w: Writer) -> None:
        """The request body (most ops are one jute record)."""

    def parse(self, r: Reader, chroot: Chroot) -> T:
        """The result of a successful reply."""
        return None  # type: ignore[return-value]

    def watch_kind(self, err: int) -> WatchKind | None:
        """The watch this op leaves when its reply carries `err`, if it asked for one."""
        return None

    def parse_in_multi(self, reply_type: int, r: Reader, chroot: Chroot) -> T:
        """The result of this op inside a multi reply whose entry has type `reply_type`."""
        if reply_type != self.opcode:
            raise ProtocolError(f"multi result type {reply_type} for a {self.opcode.name} op")
        return self.parse(r, chroot)


def _strings(r: Reader) -> list[str]:
    n = r.count()
    return [r.ustring() or "" for _ in range(max(n, 0))]


def _acls(r: Reader) -> list[ACL]:
    n = r.count()
    return [get(ACL, r) for _ in range(max(n, 0))]


# ---- writes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Create(Op[tuple[str, ZnodeStat | None]]):
    path: str
    data: bytes
    acl: Sequence[ACL]
    mode: CreateMode = CreateMode.PERSISTENT
    ttl: int = 0
    # create2 also returns the new node's Stat; multi uses plain create, like kazoo.
    with_stat: bool = True

    @property
    def opcode(self) -> OpCode:  # type: ignore[override]
        if self.mode.is_container:
            return OpCode.CREATE_CONTAINER
        if self.mode.is_ttl:
            return OpCode.CREATE_TTL
        return OpCode.CREATE2 if self.with_stat else OpCode.CREATE

    @property
    def retry(self) -> RetrySafety:  # type: ignore[override]
        return RetrySafety.UNSAFE if self.mode.is_sequential else RetrySafety.MAY_REPORT_DONE

    def write(self, w: Writer) -> None:
        if self.mode.is_ttl:
            put(w, CreateTTLRequest(self.path, self.data, list(self.acl), int(self.mode), self.ttl))
        else:
            put(w, CreateRequest(self.path, self.data, list(self.acl), int(self.mode)))

    def parse(self, r: Reader, chroot: Chroot) -> tuple[str, ZnodeStat | None]:
        return self.parse_in_multi(self.opcode, r, chroot)

    def parse_in_multi(self, reply_type: int, r: Reader, chroot: Chroot) -> tuple[str, ZnodeStat | None]:
        # Plain create answers with the path only; the reference answers every other
        # create flavour with path and Stat, and in a multi labels those CREATE2.
        path = chroot.strip(r.ustring() or "")
        if reply_type == OpCode.CREATE:
            return path, None
        return path, get(ZnodeStat, r)


@dataclass(frozen=True, slots=True)
class Delete(Op[bool]):
    path: str
    version: int = -1
    opcode = OpCode.DELETE
    retry = RetrySafety.MAY_REPORT_DONE

    def write(self, w: Writer) -> None:
        put(w, DeleteRequest(self.path, self.version))

    def parse(self, r: Reader, chroot: Chroot) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class SetData(Op[ZnodeStat]):
    path: str
    data: bytes
    version: int = -1
    opcode = OpCode.SET_DATA

    @property
    def retry(self) -> RetrySafety:  # type: ignore[override]
        return RetrySafety.SAFE if self.version == -1 else RetrySafety.MAY_REPORT_DONE

    def write(self, w: Writer) -> None:
        put(w, SetDataRequest(self.path, self.data, self.version))

    def parse(self, r: Reader, chroot: Chroot) -> ZnodeStat:
        return get(ZnodeStat, r)


@dataclass(frozen=True, slots=True)
class Check(Op[bool]):
    """Only inside a transaction: fail it unless `path` has `version`."""

    path: str
    version: int
    opcode = OpCode.CHECK

    def write(self, w: Writer) -> None:
        put(w, CheckVersionRequest(self.path, self.version))

    def parse(self, r: Reader, chroot: Chroot) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class SetACL(Op[ZnodeStat]):
    path: str
    acl: Sequence[ACL]
    version: int = -1
    opcode = OpCode.SET_ACL

    @property
    def retry(self) -> RetrySafety:  # type: ignore[override]
        return RetrySafety.SAFE if self.version == -1 else RetrySafety.MAY_REPORT_DONE

    def write(self, w: Writer) -> None:
        put(w, SetACLRequest(self.path, list(self.acl), self.version))

    def parse(self, r: Reader, chroot: Chroot) -> ZnodeStat:
        return get(ZnodeStat, r)


# ---- reads -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exists(Op[ZnodeStat]):
    path: str
    watch: bool = False
    opcode = OpCode.EXISTS

    def write(self, w: Writer) -> None:
        put(w, ExistsRequest(self.path, self.watch))

    def parse(self, r: Reader, chroot: Chroot) -> ZnodeStat:
        return get(ZnodeStat, r)

    def watch_kind(self, err: int) -> WatchKind | None:
        # A missing node gets an exist watch, so it fires when the node is created.
        if not self.watch:
            return None
        return WatchKind.DATA if err == 0 else WatchKind.EXIST if err == Code.NONODE else None


@dataclass(frozen=True, slots=True)
class GetData(Op[tuple[bytes, ZnodeStat]]):
    path: str
    watch: bool = False
    opcode = OpCode.GET_DATA

    def write(self, w: Writer) -> None:
        put(w, GetDataRequest(self.path, self.watch))

    def parse(self, r: Reader, chroot: Chroot) -> tuple[bytes, ZnodeStat]:
        data = r.buffer()
        return data or b"", get(ZnodeStat, r)

    def watch_kind(self, err: int) -> WatchKind | None:
        return WatchKind.DATA if self.watch and err == 0 else None


@dataclass(frozen=True, slots=True)
class GetChildren(Op[tuple[list[str], ZnodeStat | None]]):
    path: str
    watch: bool = False
    with_stat: bool = True  # getChildren2; multiRead only takes plain getChildren

    @property
    def opcode(self) -> OpCode:  # type: ignore[override]
        return OpCode.GET_CHILDREN2 if self.with_stat else OpCode.GET_CHILDREN

    def write(self, w: Writer) -> None:
        put(w, GetChildrenRequest(self.path, self.watch))

    def parse(self, r: Reader, chroot: Chroot) -> tuple[list[str], ZnodeStat | None]:
        children = _strings(r)
        return children, get(ZnodeStat, r) if self.with_stat else None

    def watch_kind(self, err: int) -> WatchKind | None:
        return WatchKind.CHILD if self.watch and err == 0 else None


@dataclass(frozen=True, slots=True)
class GetACL(Op[tuple[list[ACL], ZnodeStat]]):
    path: str
    opcode = OpCode.GET_ACL

    def write(self, w: Writer) -> None:
        put(w, GetACLRequest(self.path))

    def parse(self, r: Reader, chroot: Chroot) -> tuple[list[ACL], ZnodeStat]:
        acl = _acls(r)
        return acl, get(ZnodeStat, r)


@dataclass(frozen=True, slots=True)
class Sync(Op[str]):
    path: str
    opcode = OpCode.SYNC

    def write(self, w: Writer) -> None:
        put(w, SyncRequest(self.path))

    def parse(self, r: Reader, chroot: Chroot) -> str:
        return chroot.strip(r.ustring() or "")


@dataclass(frozen=True, slots=True)
class GetEphemerals(Op[list[str]]):
    path: str  # a path prefix: "/app/lo" matches "/app/lock-1" and "/app/lo/x"
    opcode = OpCode.GET_EPHEMERALS

    def write(self, w: Writer) -> None:
        put(w, GetEphemeralsRequest(self.path))

    def parse(self, r: Reader, chroot: Chroot) -> list[str]:
        return [chroot.strip(p) for p in _strings(r)]


@dataclass(frozen=True, slots=True)
class GetAllChildrenNumber(Op[int]):
    path: str
    opcode = OpCode.GET_ALL_CHILDREN_NUMBER

    def write(self, w: Writer) -> None:
        put(w, GetAllChildrenNumberRequest(self.path))

    def parse(self, r: Reader, chroot: Chroot) -> int:
        return r.int()


@dataclass(frozen=True, slots=True)
class WhoAmI(Op[list[ClientInfo]]):
    opcode = OpCode.WHO_AM_I

    def parse(self, r: Reader, chroot: Chroot) -> list[ClientInfo]:
        n = r.count()
        return [get(ClientInfo, r) for _ in range(max(n, 0))]


# ---- watches -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddWatch(Op[None]):
    path: str
    mode: AddWatchMode = AddWatchMode.PERSISTENT
    opcode = OpCode.ADD_WATCH

    def write(self, w: Writer) -> None:
        put(w, AddWatchRequest(self.path, int(self.mode)))

    def watch_kind(self, err: int) -> WatchKind | None:
        if err != 0:
            return None
        if self.mode is AddWatchMode.PERSISTENT_RECURSIVE:
            return WatchKind.PERSISTENT_RECURSIVE
        return WatchKind.PERSISTENT


@dataclass(frozen=True, slots=True)
class RemoveWatches(Op[None]):
    """Ask the server to drop its watches of `type` on `path` (removeWatches)."""

    path: str
    type: WatcherType
    opcode = OpCode.REMOVE_WATCHES

    def write(self, w: Writer) -> None:
        put(w, RemoveWatchesRequest(self.path, int(self.type)))


# ---- session and cluster -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloseSession(Op[None]):
    opcode = OpCode.CLOSE_SESSION


@dataclass(frozen=True, slots=True)
class Reconfig(Op[tuple[bytes, ZnodeStat]]):
    joining: str | None
    leaving: str | None
    new_members: str | None
    from_config: int = -1
    opcode = OpCode.RECONFIG
    retry = RetrySafety.UNSAFE

    def write(self, w: Writer) -> None:
        put(w, ReconfigRequest(self.joining, self.leaving, self.new_members, self.from_config))

    def parse(self, r: Reader, chroot: Chroot) -> tuple[bytes, ZnodeStat]:
        data = r.buffer()
        return data or b"", get(ZnodeStat, r)


@dataclass(frozen=True, slots=True)
class SetWatchesOp(Op[None]):
    """Re-register watches on a new connection (sent with the special xid -8)."""

    opcode: OpCode  # SET_WATCHES or SET_WATCHES2
    record: Any

    def write(self, w: Writer) -> None:
        put(w, self.record)


# ---- multi -------------------------------------------------------------------------

MultiResult = list[Any]  # per op: its result, or the ZookeeperError it failed with


@dataclass(frozen=True, slots=True)
class Multi(Op[MultiResult]):
    """A transaction (all ops or none) or, with `read`, a batch of reads (multiRead).

    The reply has one result per op; in a failed transaction the op that failed
    carries its error and the others RolledBackError or RuntimeInconsistency.
    """

    ops: tuple[Op[Any], ...]
    read: bool = False

    @property
    def opcode(self) -> OpCode:  # type: ignore[override]
        return OpCode.MULTI_READ if self.read else OpCode.MULTI

    @property
    def retry(self) -> RetrySafety:  # type: ignore[override]
        return RetrySafety.SAFE if self.read else RetrySafety.UNSAFE

    def write(self, w: Writer) -> None:
        MultiRequest([(int(op.opcode), op) for op in self.ops]).write(w)  # ops write their own bodies

    def parse(self, r: Reader, chroot: Chroot) -> MultiResult:
        results: list[Any] = []
        for op in self.ops:
            h = get(MultiHeader, r)
            if h.done:
                raise ProtocolError(f"multi reply ended after {len(results)} of {len(self.ops)} results")
            if h.type == OpCode.ERROR:
                err = get(ErrorResponse, r).err
                results.append(error_for(err, _client_path(op, chroot)))
            else:
                results.append(op.parse_in_multi(h.type, r, chroot))
        if not get(MultiHeader, r).done:
            raise ProtocolError("multi reply has more results than ops")
        return results


def _client_path(op: Op[Any], chroot: Chroot) -> str | None:
    path = getattr(op, "path", None)
    return chroot.strip(path) if path else None


def failure_of(results: MultiResult) -> ZookeeperError | None:
    """The error of the op that made a transaction fail (not its rolled-back companions)."""
    for x in results:
        if isinstance(x, ZookeeperError) and not isinstance(x, (RolledBackError, RuntimeInconsistency)):
            return x
    return None
