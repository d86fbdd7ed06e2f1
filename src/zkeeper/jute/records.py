"""Every record of zookeeper.jute that zkeeper speaks: data, client protocol, txns.

Field order and types are the wire layout; see `schema.jute`. The connect handshake
records are written by hand because their trailing readOnly flag is optional.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .io import Reader, Writer
from .schema import Vec, jute

# Records are built and encoded on every request, and frozen dataclasses cost three
# times as much to construct; only the ones used as dict keys (Id, ACL) are frozen.
_R = dict(slots=True)
_HASHABLE = dict(frozen=True, slots=True)

# ---- org.apache.zookeeper.data -------------------------------------------------


@jute("ustring", "ustring")
@dataclass(**_HASHABLE)
class Id:
    scheme: str
    id: str


@jute("int", Id)
@dataclass(**_HASHABLE)
class ACL:
    perms: int
    id: Id


@jute("long", "long", "long", "long", "int", "int", "int", "long", "int", "int", "long")
@dataclass(**_R)
class Stat:
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


@jute("long", "long", "long", "long", "int", "int", "int", "long", "long")
@dataclass(**_R)
class StatPersisted:
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    pzxid: int


@jute("ustring", "ustring")
@dataclass(**_R)
class ClientInfo:
    authScheme: str
    user: str


# ---- org.apache.zookeeper.proto: handshake -------------------------------------


@dataclass(**_R)
class ConnectRequest:
    protocolVersion: int
    lastZxidSeen: int
    timeOut: int
    sessionId: int
    passwd: bytes
    readOnly: bool = False
    # Whether the client sent the readOnly byte (pre-3.4 clients do not); the
    # response is written in kind.
    has_read_only: bool = field(default=True, compare=False)

    @classmethod
    def read(cls, r: Reader) -> ConnectRequest:
        pv, last, to, sid, pw = r.int(), r.long(), r.int(), r.long(), r.buffer()
        if r.remaining >= 1:
            return cls(pv, last, to, sid, pw or b"", r.bool(), True)
        return cls(pv, last, to, sid, pw or b"", False, False)

    def write(self, w: Writer) -> None:
        w.int(self.protocolVersion)
        w.long(self.lastZxidSeen)
        w.int(self.timeOut)
        w.long(self.sessionId)
        w.buffer(self.passwd)
        if self.has_read_only:
            w.bool(self.readOnly)


@dataclass(**_R)
class ConnectResponse:
    protocolVersion: int
    timeOut: int
    sessionId: int
    passwd: bytes
    readOnly: bool = False
    has_read_only: bool = field(default=True, compare=False)

    @classmethod
    def read(cls, r: Reader) -> ConnectResponse:
        pv, to, sid, pw = r.int(), r.int(), r.long(), r.buffer()
        if r.remaining >= 1:
            return cls(pv, to, sid, pw or b"", r.bool(), True)
        return cls(pv, to, sid, pw or b"", False, False)

    def write(self, w: Writer) -> None:
        w.int(self.protocolVersion)
        w.int(self.timeOut)
        w.long(self.sessionId)
        w.buffer(self.passwd)
        if self.has_read_only:
            w.bool(self.readOnly)


# ---- org.apache.zookeeper.proto: headers and control ---------------------------


@jute("int", "int")
@dataclass(**_R)
class RequestHeader:
    xid: int
    type: int


@jute("int", "long", "int")
@dataclass(**_R)
class ReplyHeader:
    xid: int
    zxid: int
    err: int


@jute("int", "bool", "int")
@dataclass(**_R)
class MultiHeader:
    type: int
    done: bool
    err: int


@jute("int", "ustring", "buffer")
@dataclass(**_R)
class AuthPacket:
    type: int
    scheme: str
    auth: bytes | None


@jute("long", Vec("ustring"), Vec("ustring"), Vec("ustring"))
@dataclass(**_R)
class SetWatches:
    relativeZxid: int
    dataWatches: list[str] | None
    existWatches: list[str] | None
    childWatches: list[str] | None


@jute("long", Vec("ustring"), Vec("ustring"), Vec("ustring"), Vec("ustring"), Vec("ustring"))
@dataclass(**_R)
class SetWatches2:
    relativeZxid: int
    dataWatches: list[str] | None
    existWatches: list[str] | None
    childWatches: list[str] | None
    persistentWatches: list[str] | None
    persistentRecursiveWatches: list[str] | None


@jute("int", "int", "ustring")
@dataclass(**_R)
class WatcherEvent:
    type: int
    state: int
    path: str | None


@jute("int")
@dataclass(**_R)
class ErrorResponse:
    err: int


# ---- org.apache.zookeeper.proto: requests --------------------------------------


@jute("ustring", "buffer", Vec(ACL), "int")
@dataclass(**_R)
class CreateRequest:
    path: str
    data: bytes | None
    acl: list[ACL] | None
    flags: int


@jute("ustring", "buffer", Vec(ACL), "int", "long")
@dataclass(**_R)
class CreateTTLRequest:
    path: str
    data: bytes | None
    acl: list[ACL] | None
    flags: int
    ttl: int


@jute("ustring", "int")
@dataclass(**_R)
class DeleteRequest:
    path: str
    version: int


@jute("ustring", "bool")
@dataclass(**_R)
class ExistsRequest:
    path: str
    watch: bool


@jute("ustring", "bool")
@dataclass(**_R)
class GetDataRequest:
    path: str
    watch: bool


@jute("ustring", "buffer", "int")
@dataclass(**_R)
class SetDataRequest:
    path: str
    data: bytes | None
    version: int


@jute("ustring")
@dataclass(**_R)
class GetACLRequest:
    path: str


@jute("ustring", Vec(ACL), "int")
@dataclass(**_R)
class SetACLRequest:
    path: str
    acl: list[ACL] | None
    version: int


@jute("ustring", "bool")
@dataclass(**_R)
class GetChildrenRequest:
    path: str
    watch: bool


@jute("ustring", "bool")
@dataclass(**_R)
class GetChildren2Request:
    path: str
    watch: bool


@jute("ustring")
@dataclass(**_R)
class SyncRequest:
    path: str


@jute("ustring", "int")
@dataclass(**_R)
class CheckVersionRequest:
    path: str
    version: int


@jute("ustring", "ustring", "ustring", "long")
@dataclass(**_R)
class ReconfigRequest:
    joiningServers: str | None
    leavingServers: str | None
    newMembers: str | None
    curConfigId: int


@jute("ustring", "int")
@dataclass(**_R)
class CheckWatchesRequest:
    path: str
    type: int


@jute("ustring", "int")
@dataclass(**_R)
class RemoveWatchesRequest:
    path: str
    type: int


@jute("ustring")
@dataclass(**_R)
class GetEphemeralsRequest:
    prefixPath: str


@jute("ustring")
@dataclass(**_R)
class GetAllChildrenNumberRequest:
    path: str


@jute("ustring", "int")
@dataclass(**_R)
class AddWatchRequest:
    path: str
    mode: int


# ---- org.apache.zookeeper.proto: responses -------------------------------------


@jute("ustring")
@dataclass(**_R)
class CreateResponse:
    path: str


@jute("ustring", Stat)
@dataclass(**_R)
class Create2Response:
    path: str
    stat: Stat


@jute(Stat)
@dataclass(**_R)
class ExistsResponse:
    stat: Stat


@jute("buffer", Stat)
@dataclass(**_R)
class GetDataResponse:
    data: bytes | None
    stat: Stat


@jute(Stat)
@dataclass(**_R)
class SetDataResponse:
    stat: Stat


@jute(Vec(ACL), Stat)
@dataclass(**_R)
class GetACLResponse:
    acl: list[ACL]
    stat: Stat


@jute(Stat)
@dataclass(**_R)
class SetACLResponse:
    stat: Stat


@jute(Vec("ustring"))
@dataclass(**_R)
class GetChildrenResponse:
    children: list[str]


@jute(Vec("ustring"), Stat)
@dataclass(**_R)
class GetChildren2Response:
    children: list[str]
    stat: Stat


@jute("ustring")
@dataclass(**_R)
class SyncResponse:
    path: str


@jute(Vec("ustring"))
@dataclass(**_R)
class GetEphemeralsResponse:
    ephemerals: list[str]


@jute("int")
@dataclass(**_R)
class GetAllChildrenNumberResponse:
    totalNumber: int


@jute(Vec(ClientInfo))
@dataclass(**_R)
class WhoAmIResponse:
    clientInfo: list[ClientInfo]


# ---- org.apache.zookeeper.txn --------------------------------------------------


@jute("long", "int", "long", "long", "int")
@dataclass(**_R)
class TxnHeader:
    clientId: int
    cxid: int
    zxid: int
    time: int
    type: int


@jute("int", "long")
@dataclass(**_R)
class TxnDigest:
    version: int
    treeDigest: int


@jute("ustring", "buffer", Vec(ACL), "bool", "int")
@dataclass(**_R)
class CreateTxn:
    path: str
    data: bytes | None
    acl: list[ACL]
    ephemeral: bool
    parentCVersion: int


@jute("ustring", "buffer", Vec(ACL), "int", "long")
@dataclass(**_R)
class CreateTTLTxn:
    path: str
    data: bytes | None
    acl: list[ACL]
    parentCVersion: int
    ttl: int


@jute("ustring", "buffer", Vec(ACL), "int")
@dataclass(**_R)
class CreateContainerTxn:
    path: str
    data: bytes | None
    acl: list[ACL]
    parentCVersion: int


@jute("ustring")
@dataclass(**_R)
class DeleteTxn:
    path: str


@jute("ustring", "buffer", "int")
@dataclass(**_R)
class SetDataTxn:
    path: str
    data: bytes | None
    version: int


@jute("ustring", "int")
@dataclass(**_R)
class CheckVersionTxn:
    path: str
    version: int


@jute("ustring", Vec(ACL), "int")
@dataclass(**_R)
class SetACLTxn:
    path: str
    acl: list[ACL]
    version: int


@jute("int")
@dataclass(**_R)
class CreateSessionTxn:
    timeOut: int


@jute(Vec("ustring"))
@dataclass(**_R)
class CloseSessionTxn:
    paths2Delete: list[str] | None


@jute("int")
@dataclass(**_R)
class ErrorTxn:
    err: int


@jute("int", "buffer")
@dataclass(**_R)
class Txn:
    type: int
    data: bytes


@jute(Vec(Txn))
@dataclass(**_R)
class MultiTxn:
    txns: list[Txn]


__all__ = [name for name, obj in list(globals().items()) if isinstance(obj, type) and obj.__module__ == __name__]
