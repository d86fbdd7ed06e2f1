"""The client's exceptions: one class per ZooKeeper error code, plus client-side ones.

Every server error is a `ZookeeperError` (a `zkeeper.errors.KeeperError`), so callers
can catch one code (`NoNodeError`) or all. Names follow kazoo. Two of them carry the
distinction a program must act on: `ConnectionLoss` means the connection dropped with
the request in flight, so a write may or may not have happened; `SessionExpiredError`
means the session is gone, and with it every ephemeral node and watch.
"""

from __future__ import annotations

from typing import Any

from ..errors import Code, KeeperError


class ZookeeperError(KeeperError):
    """A request failed with a ZooKeeper error code."""

    code: Code = Code.SYSTEMERROR

    def __init__(self, path: str | None = None) -> None:
        super().__init__(type(self).code, path)


class RolledBackError(ZookeeperError):
    """In a failed transaction: this op was valid but was rolled back with the others."""

    code = Code.OK


class SystemZookeeperError(ZookeeperError):
    code = Code.SYSTEMERROR


class RuntimeInconsistency(ZookeeperError):
    code = Code.RUNTIMEINCONSISTENCY


class DataInconsistency(ZookeeperError):
    code = Code.DATAINCONSISTENCY


class ConnectionLoss(ZookeeperError):
    """The connection dropped while the request was in flight: its outcome is unknown.

    The session is still alive (the client is reconnecting); a read can simply be
    retried, a write must be checked or made idempotent before it is retried.
    `retry_safety` (an `ops.RetrySafety`, set by the client) says which case this is.
    """

    code = Code.CONNECTIONLOSS
    retry_safety: Any = None


class MarshallingError(ZookeeperError):
    code = Code.MARSHALLINGERROR


class UnimplementedError(ZookeeperError):
    code = Code.UNIMPLEMENTED


class OperationTimeoutError(ZookeeperError):
    code = Code.OPERATIONTIMEOUT


class BadArgumentsError(ZookeeperError):
    code = Code.BADARGUMENTS


class UnknownSessionError(ZookeeperError):
    code = Code.UNKNOWNSESSION


class NewConfigNoQuorumError(ZookeeperError):
    code = Code.NEWCONFIGNOQUORUM


class ReconfigInProcessError(ZookeeperError):
    code = Code.RECONFIGINPROGRESS


class APIError(ZookeeperError):
    code = Code.APIERROR


class NoNodeError(ZookeeperError):
    code = Code.NONODE


class NoAuthError(ZookeeperError):
    code = Code.NOAUTH


class BadVersionError(ZookeeperError):
    code = Code.BADVERSION


class NoChildrenForEphemeralsError(ZookeeperError):
    code = Code.NOCHILDRENFOREPHEMERALS


class NodeExistsError(ZookeeperError):
    code = Code.NODEEXISTS


class NotEmptyError(ZookeeperError):
    code = Code.NOTEMPTY


class SessionExpiredError(ZookeeperError):
    """The session is gone: its ephemeral nodes are deleted and its watches dropped.

    The client starts a new session by itself; state built on the old one (locks,
    leadership, ephemeral registrations) must be rebuilt.
    """

    code = Code.SESSIONEXPIRED


class InvalidCallbackError(ZookeeperError):
    code = Code.INVALIDCALLBACK


class InvalidACLError(ZookeeperError):
    code = Code.INVALIDACL


class AuthFailedError(ZookeeperError):
    code = Code.AUTHFAILED


class SessionMovedError(ZookeeperError):
    code = Code.SESSIONMOVED


class NotReadOnlyCallError(ZookeeperError):
    """A write was sent to a server that is serving read-only."""

    code = Code.NOTREADONLY


class EphemeralOnLocalSessionError(ZookeeperError):
    code = Code.EPHEMERALONLOCALSESSION


class NoWatcherError(ZookeeperError):
    code = Code.NOWATCHER


class RequestTimeoutError(ZookeeperError):
    code = Code.REQUESTTIMEOUT


class ReconfigDisabledError(ZookeeperError):
    code = Code.RECONFIGDISABLED


class SessionClosedRequireSaslError(ZookeeperError):
    code = Code.SESSIONCLOSEDREQUIRESASLAUTH


class QuotaExceededError(ZookeeperError):
    code = Code.QUOTAEXCEEDED


class ThrottledOpError(ZookeeperError):
    code = Code.THROTTLEDOP


class ConnectionClosedError(SessionExpiredError):
    """The client was closed (by the program) before or while the request ran."""


class ConnectTimeoutError(TimeoutError):
    """No server accepted the session within the connect timeout."""


class ProtocolError(Exception):
    """The server sent bytes that break the protocol; the connection is dropped."""


class LockTimeout(TimeoutError):
    """A recipe could not acquire its lock, lease or slot within the given timeout."""


class UnknownErrorCode(ZookeeperError):
    """The server answered with an error code this client does not know."""

    def __init__(self, code: int, path: str | None = None) -> None:
        Exception.__init__(self, f"unknown error code {code}" + (f" for {path}" if path else ""))
        self.raw_code = code
        self.path = path


# The direct subclasses are exactly one class per code (ConnectionClosedError and
# UnknownErrorCode are not answers from the server).
_BY_CODE: dict[int, type[ZookeeperError]] = {
    int(cls.code): cls for cls in ZookeeperError.__subclasses__() if cls is not UnknownErrorCode
}


def error_for(code: int, path: str | None = None) -> ZookeeperError:
    """The exception for a wire error code (`RolledBackError` for 0 inside a multi)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return UnknownErrorCode(code, path)
    return cls(path)


__all__ = [name for name, obj in list(globals().items())
           if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == __name__]
