"""ZooKeeper error codes and the exception that carries one.

Values are the wire values of `KeeperException.Code`; they travel in ReplyHeader.err
and in multi ErrorResult records.
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


class KeeperError(Exception):
    """A request failed with a ZooKeeper error code (raised by cores, sent on the wire)."""

    def __init__(self, code: Code, path: str | None = None) -> None:
        self.code = Code(code)
        self.path = path
        detail = f" for {path}" if path else ""
        super().__init__(f"{self.code.name}{detail}")
