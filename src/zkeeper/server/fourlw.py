"""Four-letter words: short text commands on the client port, in ZooKeeper's formats.

Only whitelisted words run (`4lw.commands.whitelist`, default `srvr`); others get
ZooKeeper's "... is not in the whitelist." line. Output mirrors ZooKeeper 3.8 so
scripts that parse it (zkServer.sh status, monitoring agents) keep working.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from typing import TYPE_CHECKING, Callable

from .. import ZOOKEEPER_COMPAT_VERSION, __version__
from .connection import ClientConnection

if TYPE_CHECKING:
    from .standalone import ZooKeeperServer

VERSION_LINE = f"{ZOOKEEPER_COMPAT_VERSION}-zkeeper-{__version__}, built on 2026-11-25 00:00 UTC"


def run_four_letter_word(server: ZooKeeperServer, word: str) -> str:
    if word not in server.config.four_letter_whitelist:
        return f"{word} is not executed because it is not in the whitelist.\n"
    return _COMMANDS[word](server)


def _fmt_ms(ms: float) -> str:
    return str(int(ms))


def _latency(server: ZooKeeperServer) -> str:
    s = server.stats
    return f"Latency min/avg/max: {_fmt_ms(s.latency_min_ms)}/{s.latency_avg_ms:.1f}/{_fmt_ms(s.latency_max_ms)}\n"


def _counters(server: ZooKeeperServer) -> str:
    s = server.stats
    return (
        f"Received: {s.packets_received}\n"
        f"Sent: {s.packets_sent}\n"
        f"Connections: {len(server.connections)}\n"
        f"Outstanding: {s.outstanding}\n"
        f"Zxid: 0x{server.tree.last_processed_zxid:x}\n"
        f"Mode: {server.mode}\n"
        # ZooKeeper's node map holds the root twice ("" and "/").
        f"Node count: {server.tree.node_count + 1}\n"
        + server.role_summary()
    )


def srvr(server: ZooKeeperServer) -> str:
    return f"Zookeeper version: {VERSION_LINE}\n" + _latency(server) + _counters(server)


def _client_line(server: ZooKeeperServer, conn: ClientConnection, full: bool) -> str:
    """One connection as ServerCnxn.dumpConnectionInfo prints it."""
    ip, port = conn.peer
    line = f" /{ip}:{port}[{1 if conn.established else 0}](queued=0,recved={conn.packets_received},sent={conn.packets_sent}"
    if full and conn.session_id:
        st = conn.stats
        line += f",sid=0x{conn.session_id:x},lop={st.last_op},est={conn.established_ms},to={conn.session_timeout}"
        if st.last_cxid >= 0:
            line += f",lcxid=0x{st.last_cxid & 0xFFFFFFFFFFFFFFFF:x}"
        line += (f",lzxid=0x{st.last_zxid & 0xFFFFFFFFFFFFFFFF:x},lresp={st.last_response_ms},"
                 f"llat={st.last_latency_ms},minlat={st.min_ms},avglat={st.avg_ms},maxlat={st.max_ms}")
    return line + ")\n"


def stat(server: ZooKeeperServer) -> str:
    clients = "".join(_client_line(server, c, False) for c in server.connections)
    return (f"Zookeeper version: {VERSION_LINE}\nClients:\n{clients}\n"
            + _latency(server) + _counters(server))


def cons(server: ZooKeeperServer) -> str:
    return "".join(_client_line(server, c, True) for c in server.connections) + "\n"


def ruok(server: ZooKeeperServer) -> str:
    return "imok"


def isro(server: ZooKeeperServer) -> str:
    return "ro" if server.read_only else "rw"


def mntr_values(server: ZooKeeperServer) -> list[tuple[str, object]]:
    s = server.stats
    tree = server.tree
    return [
        ("zk_version", VERSION_LINE),
        ("zk_server_state", server.mode),
        ("zk_ephemerals_count", tree.ephemeral_count()),
        ("zk_num_alive_connections", len(server.connections)),
        ("zk_avg_latency", round(s.latency_avg_ms, 4)),
        ("zk_outstanding_requests", s.outstanding),
        ("zk_znode_count", tree.node_count + 1),
        ("zk_global_sessions", len(server.sessions.sessions)),
        ("zk_local_sessions", 0),
        ("zk_packets_sent", s.packets_sent),
        ("zk_packets_received", s.packets_received),
        ("zk_watch_count", tree.data_watches.count() + tree.child_watches.count()),
        ("zk_min_latency", _fmt_ms(s.latency_min_ms)),
        ("zk_max_latency", _fmt_ms(s.latency_max_ms)),
        ("zk_approximate_data_size", tree.approximate_data_size),
        ("zk_open_file_descriptor_count", _open_fds()),
        ("zk_max_file_descriptor_count", _max_fds()),
        ("zk_uptime", int((time.time() - server.started_at) * 1000)),
    ] + server.role_metrics()


def mntr(server: ZooKeeperServer) -> str:
    return "".join(f"{k}\t{v}\n" for k, v in mntr_values(server))


def conf(server: ZooKeeperServer) -> str:
    c = server.config
    data_dir = os.path.join(c.data_dir, "version-2")
    log_dir = os.path.join(c.data_log_dir, "version-2")
    return (
        f"clientPort={c.client_port}\n"
        f"secureClientPort={c.secure_client_port if c.secure_client_port is not None else -1}\n"
        f"dataDir={data_dir}\n"
        f"dataDirSize={_dir_size(data_dir)}\n"
        f"dataLogDir={log_dir}\n"
        f"dataLogSize={_dir_size(log_dir)}\n"
        f"tickTime={c.tick_time}\n"
        f"maxClientCnxns={c.max_client_cnxns}\n"
        f"minSessionTimeout={c.min_session_timeout}\n"
        f"maxSessionTimeout={c.max_session_timeout}\n"
        f"clientPortListenBacklog=-1\n"
        f"serverId=0\n"
    )


def envi(server: ZooKeeperServer) -> str:
    lines = [
        ("zookeeper.version", VERSION_LINE),
        ("host.name", socket.gethostname()),
        ("python.version", platform.python_version()),
        ("python.implementation", platform.python_implementation()),
        ("python.executable", sys.executable),
        ("os.name", platform.system()),
        ("os.arch", platform.machine()),
        ("os.version", platform.release()),
        ("user.name", _user()),
        ("user.home", os.path.expanduser("~")),
        ("user.dir", os.getcwd()),
    ]
    return "Environment:\n" + "".join(f"{k}={v}\n" for k, v in lines)


def wchs(server: ZooKeeperServer) -> str:
    tree = server.tree
    watchers = set(tree.data_watches.by_watcher) | set(tree.child_watches.by_watcher)
    paths = set(tree.data_watches.by_path) | set(tree.child_watches.by_path)
    total = tree.data_watches.count() + tree.child_watches.count()
    return f"{len(watchers)} connections watching {len(paths)} paths\nTotal watches:{total}\n"


def _watches_by_session(server: ZooKeeperServer) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for manager in (server.tree.data_watches, server.tree.child_watches):
        for watcher, paths in manager.by_watcher.items():
            bucket = out.setdefault(getattr(watcher, "session_id", 0), [])
            bucket.extend(p for p in paths if p not in bucket)
    return out


def wchc(server: ZooKeeperServer) -> str:
    return "".join(
        f"0x{sid:x}\n" + "".join(f"\t{p}\n" for p in paths)
        for sid, paths in _watches_by_session(server).items()
    ) + "\n"


def wchp(server: ZooKeeperServer) -> str:
    by_path: dict[str, list[int]] = {}
    for sid, paths in _watches_by_session(server).items():
        for p in paths:
            by_path.setdefault(p, []).append(sid)
    return "".join(
        f"{p}\n" + "".join(f"\t0x{sid:x}\n" for sid in sids) for p, sids in by_path.items()
    ) + "\n"


def _java_date(ms: int) -> str:
    """java.util.Date.toString(): `Wed Nov 25 14:07:42 UTC 2026`."""
    return time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(ms / 1000))


def dump(server: ZooKeeperServer) -> str:
    sessions = list(server.sessions.sessions.values())
    # Expiry times are kept on the monotonic clock; show them as wall-clock dates.
    offset = int(time.time() * 1000) - int(time.monotonic() * 1000)
    buckets: dict[int, list[int]] = {}
    for s in sessions:
        buckets.setdefault(s.expire_at, []).append(s.id)
    out = [f"SessionTracker dump:\nSession Sets ({len(buckets)})/({len(sessions)}):\n"]
    for at in sorted(buckets):
        ids = buckets[at]
        out.append(f"{len(ids)} expire at {_java_date(at + offset)}:\n" + "".join(f"\t0x{i:x}\n" for i in ids))
    with_ephemerals = {sid: paths for sid, paths in server.tree.ephemerals.items() if len(paths)}
    out.append(f"ephemeral nodes dump:\nSessions with Ephemerals ({len(with_ephemerals)}):\n")
    for sid, paths in with_ephemerals.items():
        out.append(f"0x{sid:x}:\n" + "".join(f"\t{p}\n" for p in paths.order()))
    conns = list(server.connections)
    out.append(f"Connections dump:\nConnections Sets ({1 if conns else 0})/({len(conns)}):\n")
    if conns:
        idle = int(time.time() * 1000) + server.config.tick_time * 2
        out.append(f"{len(conns)} expire at {_java_date(idle)}:\n")
        for c in conns:
            out.append(f"\tip: /{c.peer[0]}:{c.peer[1]} sessionId: 0x{c.session_id:x}\n")
    return "".join(out)


def dirs(server: ZooKeeperServer) -> str:
    c = server.config
    return (f"datadir_size: {_dir_size(os.path.join(c.data_dir, 'version-2'))}\n"
            f"logdir_size: {_dir_size(os.path.join(c.data_log_dir, 'version-2'))}\n")


def gtmk(server: ZooKeeperServer) -> str:
    return str(server.trace_mask)


def stmk(server: ZooKeeperServer) -> str:
    return ""


def crst(server: ZooKeeperServer) -> str:
    for c in server.connections:
        c.packets_received = c.packets_sent = 0
    return "Connection stats reset.\n"


def srst(server: ZooKeeperServer) -> str:
    server.stats.reset()
    return "Server stats reset.\n"


def hash_(server: ZooKeeperServer) -> str:
    return ""  # ZooKeeper prints nothing unless digests are enabled


def _dir_size(path: str) -> int:
    try:
        return sum(e.stat().st_size for e in os.scandir(path) if e.is_file())
    except OSError:
        return 0


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def _max_fds() -> int:
    try:
        import resource

        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError):
        return -1


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "unknown"


_COMMANDS: dict[str, Callable[[ZooKeeperServer], str]] = {
    "conf": conf, "cons": cons, "crst": crst, "dirs": dirs, "dump": dump, "envi": envi,
    "gtmk": gtmk, "ruok": ruok, "stmk": stmk, "srvr": srvr, "srst": srst, "stat": stat,
    "wchc": wchc, "wchp": wchp, "wchs": wchs, "mntr": mntr, "isro": isro, "hash": hash_,
}
