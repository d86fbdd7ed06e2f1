"""How zkCli shows things: the Stat block, dates, watch events, ACLs, quotas and errors.

Pure. Every text here is the one zkCli.sh (Apache ZooKeeper 3.8) prints, because
operators and their scripts read those: `cZxid = 0x1f`, Java's `Date.toString()`,
`WatchedEvent state:SyncConnected type:NodeDataChanged path:/a`, `Node does not exist: /a`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence

from ..client.exceptions import ZookeeperError
from ..errors import Code
from ..jute.records import ACL, Id, Stat
from ..paths import path_problem
from ..types import EventType, KeeperState, Perms

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def java_date(ms: int) -> str:
    """`new Date(ms).toString()` in the local time zone: `Wed Nov 25 14:14:18 UTC 2026`."""
    t = time.localtime(ms // 1000)
    return (f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {t.tm_zone} {t.tm_year}")


def java_hex(v: int) -> str:
    """`Long.toHexString`: a negative long shows as its 64-bit two's complement."""
    return format(v & 0xFFFF_FFFF_FFFF_FFFF, "x")


def stat_lines(stat: Stat) -> list[str]:
    """StatPrinter's eleven lines."""
    return [
        f"cZxid = 0x{java_hex(stat.czxid)}",
        f"ctime = {java_date(stat.ctime)}",
        f"mZxid = 0x{java_hex(stat.mzxid)}",
        f"mtime = {java_date(stat.mtime)}",
        f"pZxid = 0x{java_hex(stat.pzxid)}",
        f"cversion = {stat.cversion}",
        f"dataVersion = {stat.version}",
        f"aclVersion = {stat.aversion}",
        f"ephemeralOwner = 0x{java_hex(stat.ephemeralOwner)}",
        f"dataLength = {stat.dataLength}",
        f"numChildren = {stat.numChildren}",
    ]


def java_list(items: Iterable[object]) -> str:
    """`List.toString()`: `[a, b]`."""
    return "[" + ", ".join(str(i) for i in items) + "]"


def java_sorted(names: Iterable[str]) -> list[str]:
    """Collections.sort of Java strings: by UTF-16 code units, not code points."""
    return sorted(names, key=lambda s: s.encode("utf-16-be", "surrogatepass"))


def data_text(data: bytes | None) -> str:
    """`new String(data, UTF_8)`, with zkCli's "null" for a node that has no data."""
    return "null" if data is None else data.decode("utf-8", "replace")


# ---- watch events ------------------------------------------------------------------

EVENT_TYPE_NAMES = {
    EventType.NONE: "None",
    EventType.NODE_CREATED: "NodeCreated",
    EventType.NODE_DELETED: "NodeDeleted",
    EventType.NODE_DATA_CHANGED: "NodeDataChanged",
    EventType.NODE_CHILDREN_CHANGED: "NodeChildrenChanged",
    EventType.DATA_WATCH_REMOVED: "DataWatchRemoved",
    EventType.CHILD_WATCH_REMOVED: "ChildWatchRemoved",
    EventType.PERSISTENT_WATCH_REMOVED: "PersistentWatchRemoved",
}

KEEPER_STATE_NAMES = {
    KeeperState.UNKNOWN: "Unknown",
    KeeperState.DISCONNECTED: "Disconnected",
    KeeperState.NO_SYNC_CONNECTED: "NoSyncConnected",
    KeeperState.SYNC_CONNECTED: "SyncConnected",
    KeeperState.AUTH_FAILED: "AuthFailed",
    KeeperState.CONNECTED_READ_ONLY: "ConnectedReadOnly",
    KeeperState.SASL_AUTHENTICATED: "SaslAuthenticated",
    KeeperState.EXPIRED: "Expired",
    KeeperState.CLOSED: "Closed",
}


def watcher_message(event_type: EventType, state: KeeperState, path: str | None) -> str:
    """What zkCli.sh's default watcher prints for one event (printMessage twice)."""
    event = (f"WatchedEvent state:{KEEPER_STATE_NAMES.get(state, state.name)} "
             f"type:{EVENT_TYPE_NAMES.get(event_type, event_type.name)} path:{'null' if path is None else path}")
    return f"\nWATCHER::\n\n{event}\n"


# ---- ACLs --------------------------------------------------------------------------

_PERM_LETTERS = ((Perms.CREATE, "c"), (Perms.DELETE, "d"), (Perms.READ, "r"),
                 (Perms.WRITE, "w"), (Perms.ADMIN, "a"))
_LETTER_PERMS = {"r": Perms.READ, "w": Perms.WRITE, "c": Perms.CREATE, "d": Perms.DELETE, "a": Perms.ADMIN}


def perm_string(perms: int) -> str:
    """ZKUtil.getPermString: `cdrwa` order."""
    return "".join(letter for bit, letter in _PERM_LETTERS if perms & bit)


def _jute_string(s: str) -> str:
    # jute's ToStringOutputArchive quotes with a leading ' and escapes a few characters.
    out = ["'"]
    for c in s:
        out.append({"\0": "%00", "\n": "%0A", "\r": "%0D", ",": "%2C", "}": "%7D", "%": "%25"}.get(c, c))
    return "".join(out)


def acl_line(acl: ACL) -> str:
    """getAcl's line for one entry: the Id record's jute toString (which ends in a
    newline), then `: perms` - so each entry takes two lines, as in zkCli.sh."""
    return f"{_jute_string(acl.id.scheme)},{_jute_string(acl.id.id)}\n: {perm_string(acl.perms)}"


def parse_acl(text: str, warn: Callable[[str], None]) -> list[ACL]:
    """AclParser: `scheme:id:perms[,...]`; malformed entries are reported and skipped."""
    acls = []
    for entry in text.split(","):
        first, last = entry.find(":"), entry.rfind(":")
        if first == -1 or first == last:
            warn(f"{entry} does not have the form scheme:id:perm")
            continue
        perms = 0
        for c in entry[last + 1:]:
            if c in _LETTER_PERMS:
                perms |= _LETTER_PERMS[c]
            else:
                warn(f"Unknown perm type: {c}")
        acls.append(ACL(perms, Id(entry[:first], entry[first + 1:last])))
    return acls


# ---- quotas ------------------------------------------------------------------------

QUOTA_ROOT = "/zookeeper/quota"
LIMIT_NODE = "zookeeper_limits"
STAT_NODE = "zookeeper_stats"


def limit_path(path: str) -> str:
    return f"{QUOTA_ROOT}{path}/{LIMIT_NODE}"


def stat_path(path: str) -> str:
    return f"{QUOTA_ROOT}{path}/{STAT_NODE}"


class StatsTrack:
    """A quota node's text, `count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=10`:
    count and bytes first, then the other keys sorted; a missing key reads as -1."""

    def __init__(self, text: str = "") -> None:
        self.values: dict[str, int] = {}
        if text:
            for pair in re.split(r"[,;]+", text):
                kv = pair.split("=")
                while kv and kv[-1] == "":  # Java's split drops trailing empty strings
                    kv.pop()
                if not kv:
                    continue
                self.values[kv[0]] = int(kv[1]) if len(kv) > 1 and kv[1] else -1

    def get(self, key: str) -> int:
        return self.values.get(key, -1)

    def __str__(self) -> str:
        rest = sorted(k for k in self.values if k not in ("count", "bytes"))
        text = f"count={self.get('count')},bytes={self.get('bytes')}"
        if rest:
            text += "=" + "".join(f";{k}={self.values[k]}" for k in rest)
        return text


# ---- errors ------------------------------------------------------------------------

_CODE_MESSAGES = {
    Code.OK: "ok",
    Code.SYSTEMERROR: "SystemError",
    Code.RUNTIMEINCONSISTENCY: "RuntimeInconsistency",
    Code.DATAINCONSISTENCY: "DataInconsistency",
    Code.CONNECTIONLOSS: "ConnectionLoss",
    Code.MARSHALLINGERROR: "MarshallingError",
    Code.NEWCONFIGNOQUORUM: "NewConfigNoQuorum",
    Code.RECONFIGINPROGRESS: "ReconfigInProgress",
    Code.UNIMPLEMENTED: "Unimplemented",
    Code.OPERATIONTIMEOUT: "OperationTimeout",
    Code.BADARGUMENTS: "BadArguments",
    Code.APIERROR: "APIError",
    Code.NONODE: "NoNode",
    Code.NOAUTH: "NoAuth",
    Code.BADVERSION: "BadVersion",
    Code.NOCHILDRENFOREPHEMERALS: "NoChildrenForEphemerals",
    Code.NODEEXISTS: "NodeExists",
    Code.INVALIDACL: "InvalidACL",
    Code.AUTHFAILED: "AuthFailed",
    Code.NOTEMPTY: "Directory not empty",
    Code.SESSIONEXPIRED: "Session expired",
    Code.INVALIDCALLBACK: "Invalid callback",
    Code.SESSIONMOVED: "Session moved",
    Code.NOTREADONLY: "Not a read-only call",
    Code.EPHEMERALONLOCALSESSION: "Ephemeral node on local session",
    Code.NOWATCHER: "No such watcher",
    Code.RECONFIGDISABLED: "Reconfig is disabled",
    Code.SESSIONCLOSEDREQUIRESASLAUTH: "Session closed because client failed to authenticate",
    Code.QUOTAEXCEEDED: "Quota has exceeded",
    Code.THROTTLEDOP: "Op throttled due to high load",
}


def keeper_message(code: int, path: str | None) -> str:
    """KeeperException.getMessage(): `KeeperErrorCode = NoNode for /a`."""
    try:
        text = _CODE_MESSAGES.get(Code(code)) or f"Unknown error {Code(code).name}"
    except ValueError:
        text = f"Unknown error {code}"
    return f"KeeperErrorCode = {text}" + (f" for {path}" if path else "")


def error_message(error: ZookeeperError, path: str | None = None) -> str:
    """CliWrapperException's text for a failed request (`path` when the error has none)."""
    p = error.path if error.path else path
    shown = "null" if p is None else p
    code = getattr(error, "raw_code", error.code)
    special = {
        Code.NONODE: f"Node does not exist: {shown}",
        Code.NOCHILDRENFOREPHEMERALS: f"Ephemerals cannot have children: {shown}",
        Code.NODEEXISTS: f"Node already exists: {shown}",
        Code.NOTEMPTY: f"Node not empty: {shown}",
        Code.NOTREADONLY: f"Not a read-only call: {shown}",
        Code.INVALIDACL: f"Acl is not valid : {shown}",
        Code.NOAUTH: f"Insufficient permission : {shown}",
        Code.BADARGUMENTS: f"Arguments are not valid : {shown}",
        Code.BADVERSION: f"version No is not valid : {shown}",
        Code.RECONFIGINPROGRESS: "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)",
        Code.NEWCONFIGNOQUORUM: "No quorum of new config is connected and up-to-date with the leader of last "
                                "commmitted config - try invoking reconfiguration after new servers are "
                                "connected and synced",
        Code.QUOTAEXCEEDED: f"Quota has exceeded : {shown}",
    }
    if code in special:
        return special[code]
    return keeper_message(code, p)


def path_error(path: str, sequential: bool = False) -> str | None:
    """PathUtils.validatePath's message for a bad path (sequential: checked as path + "1")."""
    checked = path + "1" if sequential else path
    problem = path_problem(checked)
    if problem is None:
        return None
    if "@" in problem:
        return f'Invalid path string "{checked}" caused by {problem}'
    return problem


def usage_lines(commands: Sequence[tuple[str, str]]) -> list[str]:
    """ZooKeeperMain.usage(): the synopsis, then every command sorted by name."""
    lines = ["ZooKeeper -server host:port -client-configuration properties-file cmd args"]
    lines += [f"\t{name} {options}" for name, options in sorted(commands)]
    return lines
