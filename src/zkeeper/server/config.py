"""zoo.cfg loader: Java-properties text -> one frozen ServerConfig, read as ZooKeeper 3.8 does.

Every value is checked where it is read; a bad one raises ConfigError naming the file, the
line and the key. Defaults and clamps follow QuorumPeerConfig and the system properties
ZooKeeper reads. Keys we do not use are logged and kept, never dropped silently.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

log = logging.getLogger("zkeeper.config")

PARTICIPANT = "participant"
OBSERVER = "observer"

# FourLetterCommands.cmd2String (3.8), in its order; "*" in the whitelist means all of them.
FOUR_LETTER_WORDS: tuple[str, ...] = (
    "conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "ruok", "stmk",
    "srvr", "srst", "stat", "wchc", "wchp", "wchs", "mntr", "isro", "hash",
)

PROMETHEUS_PROVIDER = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
DEFAULT_METRICS_PROVIDER = "org.apache.zookeeper.metrics.impl.DefaultMetricsProvider"

_DEFAULT_TICK_TIME = 3000  # ZooKeeperServer.DEFAULT_TICK_TIME, used when a file has no tickTime
_MIN_SNAP_RETAIN_COUNT = 3  # PurgeTxnLog refuses to keep fewer snapshots
_MAX_SERVER_ID = 255  # session ids carry the server id in their top byte
_MAX_EXTENDED_SERVER_ID = 254  # EphemeralType.MAX_EXTENDED_SERVER_ID: 255 marks TTL owners
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


class ConfigError(Exception):
    """A config that cannot be used; str() reads "zoo.cfg:7: clientPort: 'abc' is not an integer"."""

    def __init__(self, file: str, line: int | None, key: str | None, message: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {message}" if key is None else f"{where}: {key}: {message}")

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, int | None, str | None, str]]:
        # Exceptions pickle through args; ours has four, so say so (multiprocessing, logging).
        return (ConfigError, (self.file, self.line, self.key, self.message))


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """One `server.N=host:quorumPort:electionPort[:role][;[clientAddr:]clientPort]` line."""

    sid: int
    host: str
    quorum_port: int
    election_port: int
    role: str  # PARTICIPANT or OBSERVER
    client_address: str | None  # "0.0.0.0" when the line gives only a client port
    client_port: int | None


@dataclass(frozen=True, slots=True)
class ServerConfig:
    config_path: str | None
    tick_time: int
    data_dir: str
    data_log_dir: str
    client_port: int
    client_port_address: str
    max_client_cnxns: int
    max_cnxns: int
    min_session_timeout: int
    max_session_timeout: int
    jute_max_buffer: int
    four_letter_whitelist: frozenset[str]
    extended_types_enabled: bool
    super_digest: str | None
    skip_acl: bool
    snap_count: int
    snap_size_limit_kb: int
    pre_alloc_size_kb: int
    force_sync: bool
    fsync_warning_threshold_ms: int
    autopurge_snap_retain_count: int
    autopurge_purge_interval: int
    global_outstanding_limit: int
    init_limit: int | None
    sync_limit: int | None
    servers: dict[int, ServerSpec]
    peer_type: str
    standalone_enabled: bool
    reconfig_enabled: bool
    readonly_mode_enabled: bool
    local_sessions_enabled: bool
    admin_enable_server: bool
    admin_server_address: str
    admin_server_port: int
    admin_command_url: str
    metrics_provider_class: str | None
    metrics_http_host: str
    metrics_http_port: int
    secure_client_port: int | None
    myid: int | None
    unknown: dict[str, str]
    raw: dict[str, str]

    @property
    def is_replicated(self) -> bool:
        """QuorumPeerConfig.isDistributed: a lone participant runs standalone unless told not to."""
        participants = sum(1 for s in self.servers.values() if s.role == PARTICIPANT)
        return bool(self.servers) and not (participants == 1 and self.standalone_enabled)


# --------------------------------------------------------------------------------------
# Java properties syntax (java.util.Properties.load), with the line each key starts on.

_WHITESPACE = " \t\f"
# String.trim() removes every char <= U+0020, which is more than str.strip's default.
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))
_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


@dataclass(frozen=True, slots=True)
class _Entry:
    key: str
    value: str
    line: int


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, logical line): comments dropped, backslash continuations joined."""
    lines = re.split(r"\r\n|\r|\n", text)
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i].lstrip(_WHITESPACE)
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line):
            line = line[:-1]
            if i == len(lines):
                break  # a continuation at end of file just loses its backslash, as in Java
            line += lines[i].lstrip(_WHITESPACE)
            i += 1
        yield start, line


def _continues(line: str) -> bool:
    """An odd number of trailing backslashes escapes the newline."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    """The key ends at the first unescaped '=', ':' or whitespace; one separator is skipped."""
    i, escaped = 0, False
    while i < len(line):
        c = line[i]
        if not escaped and (c in "=:" or c in _WHITESPACE):
            break
        escaped = c == "\\" and not escaped
        i += 1
    key, rest = line[:i], line[i:]
    rest = rest.lstrip(_WHITESPACE)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_WHITESPACE)
    return key, rest


def _unescape(s: str, file: str, line: int, key: str | None) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        i += 1
        if c != "\\" or i == len(s):
            out.append(c)
            continue
        c = s[i]
        i += 1
        if c == "u":
            digits = s[i:i + 4]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                raise ConfigError(file, line, key, "malformed \\uxxxx encoding")
            out.append(chr(int(digits, 16)))
            i += 4
        else:
            out.append(_ESCAPES.get(c, c))
    return "".join(out)


def _read_properties(text: str, file: str) -> dict[str, _Entry]:
    """Keys and values trimmed as QuorumPeerConfig trims them; a repeated key keeps its last value."""
    entries: dict[str, _Entry] = {}
    for number, line in _logical_lines(text):
        key, value = _split_key_value(line)
        key = _unescape(key, file, number, key.strip(_JAVA_TRIM)).strip(_JAVA_TRIM)
        value = _unescape(value, file, number, key).strip(_JAVA_TRIM)
        if key in entries:
            log.warning("%s:%d: %s: repeated (first on line %d); the last value wins",
                        file, number, key, entries[key].line)
        entries[key] = _Entry(key, value, number)
    return entries


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    # Java reads properties as ISO-8859-1, which garbles UTF-8 paths; we prefer UTF-8 and
    # fall back to Latin-1 so that any byte sequence still loads.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# --------------------------------------------------------------------------------------
# Typed access to one file's entries.

_JAVA_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


class _Props:
    """One file's entries, read by key; remembers which keys were consumed."""

    def __init__(self, file: str, entries: dict[str, _Entry]) -> None:
        self.file = file
        self.entries = entries
        self.used: set[str] = set()

    def entry(self, key: str, *, aliased: bool = False) -> _Entry | None:
        """With `aliased`, "zookeeper."+key works too, since it is the system property's name;
        when both are written the later line wins, as a repeated key does."""
        names = (key, "zookeeper." + key) if aliased else (key,)
        self.used.update(names)
        found = [self.entries[n] for n in names if n in self.entries]
        return max(found, key=lambda e: e.line) if found else None

    def error(self, where: _Entry | str, message: str) -> ConfigError:
        if isinstance(where, _Entry):
            return ConfigError(self.file, where.line, where.key, message)
        return ConfigError(self.file, None, where, message)

    def text(self, key: str, default: str, *, aliased: bool = False) -> str:
        e = self.entry(key, aliased=aliased)
        return default if e is None else e.value

    def integer(self, key: str, default: int, *, minimum: int | None = None,
                bits: int = 32, aliased: bool = False) -> int:
        e = self.entry(key, aliased=aliased)
        if e is None:
            return default
        value = self.parse_integer(e, bits)
        if minimum is not None and value < minimum:
            raise self.error(e, f"{e.value!r} is less than the minimum {minimum}")
        return value

    def parse_integer(self, e: _Entry, bits: int = 32) -> int:
        # Integer.parseInt: ASCII digits with an optional sign, nothing else.
        if not _JAVA_INTEGER.fullmatch(e.value):
            raise self.error(e, f"{e.value!r} is not an integer")
        value = int(e.value)
        low, high = _INT32 if bits == 32 else _INT64
        if not low <= value <= high:
            raise self.error(e, f"{e.value!r} is out of range for a {bits}-bit integer")
        return value

    def port(self, key: str, default: int, *, aliased: bool = False) -> int:
        e = self.entry(key, aliased=aliased)
        if e is None:
            return default
        return self.parse_port(e, e.value)

    def parse_port(self, e: _Entry, text: str, *, allow_zero: bool = True) -> int:
        """`text` is the whole value or, in a server.N line, one field of it."""
        what = repr(text) if text == e.value else f"port {text!r}"
        if not _JAVA_INTEGER.fullmatch(text):
            raise self.error(e, f"{what} is not an integer")
        port = int(text)
        low = 0 if allow_zero else 1
        if not low <= port <= 65535:
            raise self.error(e, f"{what} is out of range ({low}-65535)")
        return port

    def boolean(self, key: str, default: bool, *, aliased: bool = False) -> bool:
        e = self.entry(key, aliased=aliased)
        if e is None:
            return default
        return self.parse_boolean(e)

    def parse_boolean(self, e: _Entry) -> bool:
        # QuorumPeerConfig.parseBoolean: true/false in any case, anything else is an error.
        if e.value.lower() in ("true", "false"):
            return e.value.lower() == "true"
        raise self.error(e, f"{e.value!r} is not a boolean; use 'true' or 'false'")

    def yes_no(self, key: str, default: bool, *, aliased: bool = False) -> bool:
        # ZooKeeper compares these with "yes"/"no" exactly; rejecting anything else keeps
        # "skipACL=true" (which ZooKeeper reads as no) from meaning yes here.
        e = self.entry(key, aliased=aliased)
        if e is None:
            return default
        if e.value in ("yes", "no"):
            return e.value == "yes"
        raise self.error(e, f"{e.value!r} is not 'yes' or 'no'")


# --------------------------------------------------------------------------------------
# server.N lines (QuorumPeer.QuorumServer, ConfigUtils.getHostAndPort)

_SERVER_FORMAT = ("does not have the form host:port:port[:participant|:observer]"
                  "[;[clientHost:]clientPort]")


def _host_and_port(p: _Props, e: _Entry, s: str) -> list[str]:
    """Split on ':' except inside a leading [IPv6] literal."""
    if not s.startswith("["):
        return s.split(":")
    end = s.find("]")
    if end < 0:
        raise p.error(e, f"{s!r} starts with '[' but has no matching ']'")
    if s[end + 1:end + 2] != ":" or end + 2 == len(s):
        raise p.error(e, f"{s!r} has no port after the ']:'")
    return [s[1:end], *s[end + 2:].split(":")]


def _parse_sid(p: _Props, e: _Entry) -> int:
    text = e.key[len("server."):]
    if not re.fullmatch(r"\+?[0-9]+", text, re.ASCII) or int(text) > _INT64[1]:
        raise p.error(e, f"server id {text!r} is not a non-negative integer")
    return int(text)


def _parse_role(p: _Props, e: _Entry, text: str) -> str:
    role = text.strip().lower()
    if role not in (PARTICIPANT, OBSERVER):
        raise p.error(e, f"unrecognised peer type {text!r}; use participant or observer")
    return role


def _parse_server(p: _Props, e: _Entry) -> ServerSpec:
    sid = _parse_sid(p, e)
    server_part, *client_parts = e.value.split(";")
    if len(client_parts) > 1:
        raise p.error(e, f"{e.value!r} {_SERVER_FORMAT}")
    if "|" in server_part:
        # 3.6+ multi-address lines need multiAddress.enabled in ZooKeeper; one address per
        # server is all our quorum transport knows.
        raise p.error(e, "multiple addresses per server ('|') are not supported")
    parts = _host_and_port(p, e, server_part)
    if not 3 <= len(parts) <= 4 or not parts[0]:
        raise p.error(e, f"{e.value!r} {_SERVER_FORMAT}")
    quorum_port = p.parse_port(e, parts[1], allow_zero=False)
    election_port = p.parse_port(e, parts[2], allow_zero=False)
    if quorum_port == election_port:
        raise p.error(e, "quorum and election port must be different")
    role = _parse_role(p, e, parts[3]) if len(parts) == 4 else PARTICIPANT
    client_address, client_port = _parse_client_part(p, e, client_parts)
    return ServerSpec(sid, parts[0], quorum_port, election_port, role, client_address, client_port)


def _parse_client_part(p: _Props, e: _Entry, client_parts: list[str]) -> tuple[str | None, int | None]:
    if not client_parts:
        return None, None
    parts = _host_and_port(p, e, client_parts[0])
    if len(parts) > 2 or (len(parts) == 2 and not parts[0]):
        raise p.error(e, f"{e.value!r} {_SERVER_FORMAT}")
    host = parts[0] if len(parts) == 2 else "0.0.0.0"
    return host, p.parse_port(e, parts[-1])


def _is_server_key(key: str) -> bool:
    return key.startswith("server.")


def _is_hierarchy_key(key: str) -> bool:
    # QuorumPeerConfig switches to QuorumHierarchical on any key starting like this.
    return key.startswith("group") or key.startswith("weight")


def _parse_servers(p: _Props) -> tuple[dict[int, ServerSpec], dict[int, _Entry]]:
    """The servers, and the line each came from (for errors found later)."""
    servers: dict[int, ServerSpec] = {}
    origin: dict[int, _Entry] = {}
    for e in p.entries.values():
        if _is_hierarchy_key(e.key):
            p.used.add(e.key)
            raise p.error(e, "hierarchical quorums (group/weight) are not supported")
        if not _is_server_key(e.key):
            continue
        p.used.add(e.key)
        spec = _parse_server(p, e)
        if spec.sid in servers:
            raise p.error(e, f"server id {spec.sid} is already listed on line {origin[spec.sid].line}")
        servers[spec.sid], origin[spec.sid] = spec, e
    return servers, origin


# --------------------------------------------------------------------------------------
# dynamicConfigFile (zookeeperReconfig.md): server lines live in a second file.

def _load_dynamic(p: _Props, base_dir: Path) -> _Props | None:
    e = p.entry("dynamicConfigFile")
    if e is None:
        return None
    for other in p.entries.values():
        if _is_server_key(other.key) or _is_hierarchy_key(other.key):
            raise p.error(other, "must be in the separate dynamic config file "
                                 f"when dynamicConfigFile is set (line {e.line})")
    path = str(base_dir / e.value)  # a relative path is opened from the working directory
    try:
        text = _read_text(path)
    except OSError as exc:
        raise p.error(e, f"cannot read {path!r}: {exc.strerror or exc}") from exc
    dyn = _Props(path, _read_properties(text, path))
    for d in dyn.entries.values():
        if d.key == "version":
            # The version comes from the file name suffix; ZooKeeper refuses one inside.
            raise dyn.error(d, "the dynamic config file must not contain a version")
        if not (_is_server_key(d.key) or _is_hierarchy_key(d.key)):
            raise dyn.error(d, "unrecognised parameter in a dynamic config file")
    return dyn


# --------------------------------------------------------------------------------------
# Pieces of the config, one concern each.

def _directory(p: _Props, key: str, base_dir: Path) -> str | None:
    e = p.entry(key)
    if e is None:
        return None
    if not e.value:
        raise p.error(e, "must not be empty")
    if not os.path.isabs(e.value) and not e.value.startswith("./"):
        # Same warning as VerifyingFileFactory; the path is taken from the working directory.
        log.warning("%s:%d: %s: %r is relative. Prepend ./ to indicate that you're sure!",
                    p.file, e.line, key, e.value)
    return str(base_dir / e.value)


def _session_timeouts(p: _Props, tick_time: int) -> tuple[int, int]:
    """-1 (or absent) means 2 and 20 ticks, as ZooKeeperServer computes them."""
    low = p.integer("minSessionTimeout", -1, minimum=-1)
    high = p.integer("maxSessionTimeout", -1, minimum=-1)
    low = 2 * tick_time if low == -1 else low
    high = 20 * tick_time if high == -1 else high
    if low > high:
        blame = p.entry("minSessionTimeout") or p.entry("maxSessionTimeout") or "minSessionTimeout"
        raise p.error(blame, f"minSessionTimeout ({low}) must not be larger than "
                             f"maxSessionTimeout ({high})")
    return low, high


def _four_letter_whitelist(p: _Props, readonly: bool) -> frozenset[str]:
    """FourLetterCommands.isEnabled: comma list or "*"; srvr always (zkServer.sh status needs
    it) and isro with read-only mode."""
    words = {"srvr"} | ({"isro"} if readonly else set())
    e = p.entry("4lw.commands.whitelist", aliased=True)
    if e is None:
        return frozenset(words)
    for word in (w.strip() for w in e.value.split(",")):
        if word == "*":
            return frozenset(FOUR_LETTER_WORDS)
        if word in FOUR_LETTER_WORDS:
            words.add(word)
        elif word:
            log.warning("%s:%d: %s: %r is not a four-letter word; ignored",
                        p.file, e.line, e.key, word)
    return frozenset(words)


def _at_least(p: _Props, key: str, value: int, floor: int, why: str, *, aliased: bool = False) -> int:
    """ZooKeeper raises some too-small values to a floor with a warning instead of failing."""
    if value >= floor:
        return value
    e = p.entry(key, aliased=aliased)
    log.warning("%s:%s: %s: %d is too small (%s); using %d",
                p.file, e.line if e else "?", key, value, why, floor)
    return floor


def _metrics_provider(p: _Props) -> str | None:
    e = p.entry("metricsProvider.className")
    if e is None:
        return None
    if e.value not in (PROMETHEUS_PROVIDER, DEFAULT_METRICS_PROVIDER):
        # ZooKeeper fails with "metrics provider class was not found" for a class it cannot load.
        raise p.error(e, f"metrics provider class {e.value!r} was not found; "
                         f"zkeeper knows {PROMETHEUS_PROVIDER}")
    return e.value


def _peer_type(p: _Props) -> str:
    e = p.entry("peerType")
    return PARTICIPANT if e is None else _parse_role(p, e, e.value)


def _secure_client_port(p: _Props) -> int | None:
    port = p.port("secureClientPort", 0)
    address = p.entry("secureClientPortAddress")
    if port == 0 and address is not None:
        raise p.error(address, "secureClientPortAddress is set but secureClientPort is not set")
    return port or None  # 0 means unset in QuorumPeerConfig


# Keys QuorumPeerConfig parses itself but zkeeper does not act on: checked the way
# ZooKeeper checks them, kept in `raw`, and not reported as unknown.
_BOOL, _INT, _LONG, _STR = "bool", "int", "long", "str"
_RECOGNISED: dict[str, str] = {
    "localSessionsUpgradingEnabled": _BOOL,
    "secureClientPortAddress": _STR,
    "observerMasterPort": _INT,
    "clientPortListenBacklog": _INT,
    "connectToLearnerMasterLimit": _INT,
    "quorumListenOnAllIPs": _BOOL,
    "syncEnabled": _BOOL,
    "sslQuorum": _BOOL,
    "portUnification": _BOOL,
    "sslQuorumReloadCertFiles": _BOOL,
    "quorum.auth.enableSasl": _BOOL,
    "quorum.auth.serverRequireSasl": _BOOL,
    "quorum.auth.learnerRequireSasl": _BOOL,
    "quorum.auth.learner.saslLoginContext": _STR,
    "quorum.auth.server.saslLoginContext": _STR,
    "quorum.auth.kerberos.servicePrincipal": _STR,
    "quorum.cnxn.threads.size": _INT,
    "jvm.pause.info-threshold.ms": _LONG,
    "jvm.pause.warn-threshold.ms": _LONG,
    "jvm.pause.sleep.time.ms": _LONG,
    "jvm.pause.monitor": _BOOL,
    "multiAddress.enabled": _BOOL,
    "multiAddress.reachabilityCheckTimeoutMs": _INT,
    "multiAddress.reachabilityCheckEnabled": _BOOL,
    "oraclePath": _STR,
}


def _check_recognised(p: _Props) -> None:
    for key, kind in _RECOGNISED.items():
        e = p.entry(key)
        if e is None or kind == _STR:
            continue
        if kind == _BOOL:
            p.parse_boolean(e)
        else:
            p.parse_integer(e, 32 if kind == _INT else 64)
    election = p.entry("electionAlg")
    if election is not None and p.parse_integer(election) != 3:
        raise p.error(election, f"{election.value!r} is not supported; only 3 (fast leader election) is")
    _check_quorum_sasl(p)


def _check_quorum_sasl(p: _Props) -> None:
    """The three consistency rules QuorumPeerConfig applies to quorum SASL switches."""
    def on(key: str) -> bool:
        e = p.entry(key)
        return e is not None and p.parse_boolean(e)

    enabled = on("quorum.auth.enableSasl")
    server_required = on("quorum.auth.serverRequireSasl")
    learner_required = on("quorum.auth.learnerRequireSasl")
    if not enabled and (server_required or learner_required):
        key = "quorum.auth.serverRequireSasl" if server_required else "quorum.auth.learnerRequireSasl"
        raise p.error(p.entry(key) or key, "needs quorum.auth.enableSasl=true")
    if server_required and not learner_required:
        key = "quorum.auth.serverRequireSasl"
        raise p.error(p.entry(key) or key, "needs quorum.auth.learnerRequireSasl=true")


def _is_recognised_prefix(key: str) -> bool:
    return key.startswith("metricsProvider.")


def _unknown(p: _Props) -> dict[str, str]:
    """What ZooKeeper would turn into system properties "zookeeper."+key; we keep them."""
    unknown: dict[str, str] = {}
    for e in p.entries.values():
        if e.key in p.used or e.key in _RECOGNISED or _is_recognised_prefix(e.key):
            continue
        log.warning("%s:%d: %s: unknown key, kept (ZooKeeper would set system property "
                    "zookeeper.%s)", p.file, e.line, e.key, e.key)
        unknown[e.key] = e.value
    return unknown


# --------------------------------------------------------------------------------------
# The ensemble: servers, quorum rules, myid, and what they decide for this server.

@dataclass(frozen=True, slots=True)
class _Quorum:
    servers: dict[int, ServerSpec]
    standalone_enabled: bool
    myid: int | None
    client_port: int
    client_port_address: str
    peer_type: str
    init_limit: int | None
    sync_limit: int | None
    dynamic_raw: dict[str, str]  # the dynamic file's keys, shown in `raw` too


def _quorum(p: _Props, base_dir: Path, data_dir: str, extended_types: bool) -> _Quorum:
    standalone = p.boolean("standaloneEnabled", True)
    dyn = _load_dynamic(p, base_dir)
    source = dyn if dyn is not None else p
    servers, origin = _parse_servers(source)
    _check_membership(p, source, servers, origin, standalone)
    participants = sum(1 for s in servers.values() if s.role == PARTICIPANT)
    replicated = bool(servers) and not (participants == 1 and standalone)
    init_limit = _limit(p, "initLimit", replicated)
    sync_limit = _limit(p, "syncLimit", replicated)
    myid = _read_myid(data_dir, servers, replicated, extended_types)
    me = servers.get(myid) if myid is not None else None
    client_port, client_address = _client_endpoint(p, me)
    return _Quorum(
        servers=servers,
        standalone_enabled=standalone,
        myid=myid,
        client_port=client_port,
        client_port_address=client_address,
        peer_type=_reconcile_peer_type(p, me),
        init_limit=init_limit,
        sync_limit=sync_limit,
        dynamic_raw={} if dyn is None else {e.key: e.value for e in dyn.entries.values()},
    )


def _check_membership(p: _Props, source: _Props, servers: dict[int, ServerSpec],
                      origin: dict[int, _Entry], standalone: bool) -> None:
    """QuorumPeerConfig.parseDynamicConfig's rules on participants and observers."""
    participants = [s for s in servers.values() if s.role == PARTICIPANT]
    observers = [origin[s.sid] for s in servers.values() if s.role == OBSERVER]
    if not participants:
        if not standalone:
            raise p.error(p.entry("standaloneEnabled") or "standaloneEnabled",
                          "standaloneEnabled=false needs at least one participant server")
        if observers:
            raise source.error(observers[0], "observers without participants is an invalid configuration")
    elif len(participants) == 1 and standalone:
        if observers:
            raise source.error(observers[0], "observers without a quorum is an invalid configuration")
        log.warning("%s: only one server specified; running standalone (standaloneEnabled=true)",
                    source.file)
    elif len(participants) <= 2:
        log.warning("%s: no server failure will be tolerated; you need at least 3 servers",
                    source.file)
    elif len(participants) % 2 == 0:
        log.warning("%s: non-optimal configuration, consider an odd number of servers", source.file)


def _limit(p: _Props, key: str, replicated: bool) -> int | None:
    """initLimit/syncLimit: 0 means unset, as in QuorumPeerConfig.checkValidity."""
    e = p.entry(key)
    if e is None:
        if replicated:
            raise p.error(key, "is not set; it is required when server.N lines define a "
                               "replicated ensemble")
        return None
    value = p.integer(key, 0, minimum=0)
    if replicated and value == 0:
        raise p.error(e, "must be at least 1 tick in a replicated ensemble")
    return value


def _read_myid(data_dir: str, servers: dict[int, ServerSpec], replicated: bool,
               extended_types: bool) -> int | None:
    """dataDir/myid names this server; it is required once the ensemble is replicated."""
    if not servers:
        return None
    path = os.path.join(data_dir, "myid")
    try:
        first_line = _read_text(path).splitlines()[:1]
    except FileNotFoundError:
        if replicated:
            raise ConfigError(path, None, "myid", "file is missing; it is required when "
                              "server.N lines define a replicated ensemble") from None
        return None
    except OSError as exc:
        raise ConfigError(path, None, "myid", f"cannot read: {exc.strerror or exc}") from exc
    text = first_line[0].strip() if first_line else ""
    if not re.fullmatch(r"\+?[0-9]+", text, re.ASCII) or int(text) > _INT64[1]:
        raise ConfigError(path, 1, "myid", f"server id {text!r} is not a number")
    return _check_myid(path, int(text), servers, replicated, extended_types)


def _check_myid(path: str, myid: int, servers: dict[int, ServerSpec], replicated: bool,
                extended_types: bool) -> int:
    if replicated and myid not in servers:
        # ZooKeeper only notices at startup ("My id 7 not in the peer list").
        listed = ", ".join(map(str, sorted(servers)))
        raise ConfigError(path, 1, "myid", f"server id {myid} is not in the server.N list ({listed})")
    if extended_types and myid > _MAX_EXTENDED_SERVER_ID:
        # TTL nodes use owner top byte 0xff, so that server id is taken (EphemeralType).
        raise ConfigError(path, 1, "myid", f"server id {myid} is too large with "
                          f"extendedTypesEnabled; the maximum is {_MAX_EXTENDED_SERVER_ID}")
    if myid > _MAX_SERVER_ID:
        log.warning("%s: server id %d is above %d; session ids may collide",
                    path, myid, _MAX_SERVER_ID)
    return myid


def _client_endpoint(p: _Props, me: ServerSpec | None) -> tuple[int, str]:
    """QuorumPeerConfig.setupClientPort: this server's own server.N client part wins, but it
    must agree with clientPort/clientPortAddress when both are given."""
    port_entry = p.entry("clientPort")
    address_entry = p.entry("clientPortAddress")
    if address_entry is not None and port_entry is None:
        raise p.error(address_entry, "clientPortAddress is set but clientPort is not set")
    port = 2181 if port_entry is None else p.parse_port(port_entry, port_entry.value)
    address = "0.0.0.0" if address_entry is None else address_entry.value
    if me is None or me.client_port is None or me.client_address is None:
        return port, address
    if port_entry is not None and _client_conflict(address, port, me.client_address, me.client_port):
        raise p.error(port_entry, f"client address for this server (id = {me.sid}) is "
                                  f"{address}:{port} here but {me.client_address}:"
                                  f"{me.client_port} in server.{me.sid}")
    return me.client_port, me.client_address


def _client_conflict(address: str, port: int, line_address: str, line_port: int) -> bool:
    if address in ("0.0.0.0", "::", "0:0:0:0:0:0:0:0"):
        return port != line_port  # a wildcard address only has to agree on the port
    return (address, port) != (line_address, line_port)


def _reconcile_peer_type(p: _Props, me: ServerSpec | None) -> str:
    """QuorumPeerConfig.setupPeerType: the servers list decides; a different peerType is
    only worth a warning."""
    declared = _peer_type(p)
    by_list = me.role if me is not None else PARTICIPANT
    if declared != by_list:
        log.warning("%s: peerType (%s) does not match the servers list (%s); using the "
                    "servers list", p.file, declared, by_list)
    return by_list


# --------------------------------------------------------------------------------------
# Assembly and the public entry points.

def _build(p: _Props, base_dir: Path, config_path: str | None) -> ServerConfig:
    tick_time = p.integer("tickTime", _DEFAULT_TICK_TIME, minimum=1)
    data_dir = _directory(p, "dataDir", base_dir)
    if data_dir is None:
        raise p.error("dataDir", "is not set; it is required")
    min_session, max_session = _session_timeouts(p, tick_time)
    extended_types = p.boolean("extendedTypesEnabled", False, aliased=True)
    readonly = p.boolean("readonlymode.enabled", False, aliased=True)
    quorum = _quorum(p, base_dir, data_dir, extended_types)
    _check_recognised(p)
    # Keyword arguments run left to right, so `unknown` (next to last) sees every key the
    # others consumed.
    return ServerConfig(
        config_path=config_path,
        tick_time=tick_time,
        data_dir=data_dir,
        data_log_dir=_directory(p, "dataLogDir", base_dir) or data_dir,
        client_port=quorum.client_port,
        client_port_address=quorum.client_port_address,
        # NIOServerCnxnFactory limits only when > 0, so a negative value means unlimited too.
        max_client_cnxns=max(0, p.integer("maxClientCnxns", 60)),
        max_cnxns=_at_least(p, "maxCnxns", p.integer("maxCnxns", 0, aliased=True), 0,
                            "0 means unlimited", aliased=True),
        min_session_timeout=min_session,
        max_session_timeout=max_session,
        jute_max_buffer=p.integer("jute.maxbuffer", 0xFFFFF, minimum=1, aliased=True),
        four_letter_whitelist=_four_letter_whitelist(p, readonly),
        extended_types_enabled=extended_types,
        super_digest=p.text("DigestAuthenticationProvider.superDigest", "", aliased=True) or None,
        skip_acl=p.yes_no("skipACL", False, aliased=True),
        snap_count=_at_least(p, "snapCount", p.integer("snapCount", 100_000, aliased=True), 2,
                             "SyncRequestProcessor needs 2 or more", aliased=True),
        # <= 0 turns these two off in ZooKeeper, so every value is allowed.
        snap_size_limit_kb=p.integer("snapSizeLimitInKb", 4_194_304, bits=64, aliased=True),
        pre_alloc_size_kb=p.integer("preAllocSize", 65_536, bits=64, aliased=True),
        force_sync=p.yes_no("forceSync", True, aliased=True),
        fsync_warning_threshold_ms=p.integer("fsync.warningthresholdms", 1000, bits=64,
                                             aliased=True),
        autopurge_snap_retain_count=_at_least(
            p, "autopurge.snapRetainCount", p.integer("autopurge.snapRetainCount", 3),
            _MIN_SNAP_RETAIN_COUNT, "PurgeTxnLog keeps at least 3 snapshots"),
        # DatadirCleanupManager schedules nothing for <= 0; normalise to the documented 0.
        autopurge_purge_interval=max(0, p.integer("autopurge.purgeInterval", 0)),
        global_outstanding_limit=p.integer("globalOutstandingLimit", 1000, aliased=True),
        init_limit=quorum.init_limit,
        sync_limit=quorum.sync_limit,
        servers=quorum.servers,
        peer_type=quorum.peer_type,
        standalone_enabled=quorum.standalone_enabled,
        reconfig_enabled=p.boolean("reconfigEnabled", False),
        readonly_mode_enabled=readonly,
        local_sessions_enabled=p.boolean("localSessionsEnabled", False),
        admin_enable_server=p.boolean("admin.enableServer", True, aliased=True),
        admin_server_address=p.text("admin.serverAddress", "0.0.0.0", aliased=True),
        admin_server_port=p.port("admin.serverPort", 8080, aliased=True),
        admin_command_url=p.text("admin.commandURL", "/commands", aliased=True),
        metrics_provider_class=_metrics_provider(p),
        metrics_http_host=p.text("metricsProvider.httpHost", "0.0.0.0"),
        metrics_http_port=p.port("metricsProvider.httpPort", 7000),
        secure_client_port=_secure_client_port(p),
        myid=quorum.myid,
        unknown=_unknown(p),
        raw={**{e.key: e.value for e in p.entries.values()}, **quorum.dynamic_raw},
    )


def parse_config_text(text: str, file: str = "zoo.cfg",
                      base_dir: str | os.PathLike[str] | None = None) -> ServerConfig:
    """Parse zoo.cfg text. `file` names it in errors; relative paths (dataDir, dataLogDir,
    dynamicConfigFile) resolve against `base_dir`, default the working directory, because
    ZooKeeper opens them from its working directory, not from the config file's folder."""
    base = Path(os.getcwd() if base_dir is None else base_dir).absolute()
    return _build(_Props(file, _read_properties(text, file)), base, file)


def load_config(path: str | os.PathLike[str]) -> ServerConfig:
    file = os.fspath(path)
    try:
        text = _read_text(file)
    except OSError as exc:
        raise ConfigError(file, None, None, f"cannot read: {exc.strerror or exc}") from exc
    log.info("Reading configuration from: %s", file)
    return parse_config_text(text, file)


def default_config(base_dir: str | os.PathLike[str]) -> ServerConfig:
    """No zoo.cfg: the sample's tickTime 2000 and clientPort 2181, data in base_dir/data."""
    data_dir = str(Path(base_dir).absolute() / "data")
    values = {"tickTime": "2000", "clientPort": "2181", "dataDir": data_dir}
    entries = {key: _Entry(key, value, 0) for key, value in values.items()}
    return replace(_build(_Props("<defaults>", entries), Path(os.getcwd()), None), raw={})
