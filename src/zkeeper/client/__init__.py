"""zkeeper's ZooKeeper client: `Client` (asyncio) and `SyncClient` (blocking), kazoo-shaped.

The modules underneath, from the wire up: `connection` (sans-IO protocol), `ops`
(one record per request), `watches` (who hears an event), `timing` (pings, timeouts,
backoff), `session` (the asyncio driver), `client` (the API), `multi`, `watchers`,
`retry`, `sync`. Everything a program needs is re-exported here.
"""

from ..types import AddWatchMode, EventType, KeeperState, Perms, WatcherType
from .acl import (
    ANYONE_ID_UNSAFE,
    AUTH_IDS,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)
from .client import Client
from .exceptions import (
    APIError,
    AuthFailedError,
    BadArgumentsError,
    BadVersionError,
    ConnectTimeoutError,
    ConnectionClosedError,
    ConnectionLoss,
    DataInconsistency,
    EphemeralOnLocalSessionError,
    InvalidACLError,
    InvalidCallbackError,
    LockTimeout,
    MarshallingError,
    NewConfigNoQuorumError,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NoNodeError,
    NoWatcherError,
    NodeExistsError,
    NotEmptyError,
    NotReadOnlyCallError,
    OperationTimeoutError,
    ProtocolError,
    QuotaExceededError,
    ReconfigDisabledError,
    ReconfigInProcessError,
    RequestTimeoutError,
    RolledBackError,
    RuntimeInconsistency,
    SessionClosedRequireSaslError,
    SessionExpiredError,
    SessionMovedError,
    SystemZookeeperError,
    ThrottledOpError,
    UnimplementedError,
    UnknownErrorCode,
    UnknownSessionError,
    ZookeeperError,
)
from .multi import ReadBatch, Transaction
from .ops import RetrySafety
from .retry import Retry, RetryFailedError
from .stat import ZnodeStat
from .states import State, WatchedEvent
from .sync import SyncClient
from .watchers import EventStream, Watcher

__all__ = [
    "AddWatchMode", "ANYONE_ID_UNSAFE", "APIError", "AUTH_IDS", "AuthFailedError",
    "BadArgumentsError", "BadVersionError", "Client", "ConnectionClosedError",
    "ConnectionLoss", "ConnectTimeoutError", "CREATOR_ALL_ACL", "DataInconsistency",
    "EphemeralOnLocalSessionError", "EventStream", "EventType", "InvalidACLError",
    "InvalidCallbackError", "KeeperState", "LockTimeout", "make_acl", "make_digest_acl",
    "make_digest_acl_credential", "MarshallingError", "NewConfigNoQuorumError",
    "NoAuthError", "NoChildrenForEphemeralsError", "NodeExistsError", "NoNodeError",
    "NotEmptyError", "NotReadOnlyCallError", "NoWatcherError", "OPEN_ACL_UNSAFE",
    "OperationTimeoutError", "Perms", "ProtocolError", "QuotaExceededError",
    "READ_ACL_UNSAFE", "ReadBatch", "ReconfigDisabledError", "ReconfigInProcessError",
    "RequestTimeoutError", "Retry", "RetryFailedError", "RetrySafety", "RolledBackError",
    "RuntimeInconsistency", "SessionClosedRequireSaslError", "SessionExpiredError",
    "SessionMovedError", "State", "SyncClient", "SystemZookeeperError", "ThrottledOpError",
    "Transaction", "UnimplementedError", "UnknownErrorCode", "UnknownSessionError",
    "WatchedEvent", "Watcher", "WatcherType", "ZnodeStat", "ZookeeperError",
]
