"""The AdminServer: `/commands` and `/commands/<name>` as JSON, like ZooKeeper's Jetty one.

Each command answers a JSON object with its fields plus "command" and "error", under
the primary name or any alias ZooKeeper accepts (srvr -> server_stats, mntr -> monitor...).
Enabled by `admin.enableServer` on `admin.serverAddress:admin.serverPort` (default 8080).
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any, Callable

from . import fourlw
from .http import HttpServer

if TYPE_CHECKING:
    from .standalone import ZooKeeperServer

Command = Callable[["ZooKeeperServer"], dict[str, Any]]


def _server_stats(s: ZooKeeperServer) -> dict[str, Any]:
    st = s.stats
    return {
        "packets_sent": st.packets_sent,
        "packets_received": st.packets_received,
        "outstanding_requests": st.outstanding,
        "min_latency": int(st.latency_min_ms),
        "avg_latency": round(st.latency_avg_ms, 4),
        "max_latency": int(st.latency_max_ms),
        "last_processed_zxid": s.tree.last_processed_zxid,
        "num_alive_client_connections": len(s.connections),
        "server_state": s.mode,
        "uptime": int((time.time() - s.started_at) * 1000),
        "data_dir_size": fourlw._dir_size(os.path.join(s.config.data_dir, "version-2")),
        "log_dir_size": fourlw._dir_size(os.path.join(s.config.data_log_dir, "version-2")),
    }


def srvr(s: ZooKeeperServer) -> dict[str, Any]:
    return {"version": fourlw.VERSION_LINE, "read_only": False, "server_stats": _server_stats(s),
            "node_count": s.tree.node_count + 1}


def _connections(s: ZooKeeperServer) -> list[dict[str, Any]]:
    return [{
        "remote_socket_address": f"{c.peer[0]}:{c.peer[1]}",
        "interest_ops": 1,
        "outstanding_requests": 0,
        "packets_received": c.packets_received,
        "packets_sent": c.packets_sent,
        "session_id": f"0x{c.session_id:x}",
        "session_timeout": c.session_timeout,
        "last_zxid": f"0x{c.last_zxid:x}",
    } for c in s.connections]


def stat(s: ZooKeeperServer) -> dict[str, Any]:
    return {**srvr(s), "connections": _connections(s), "secure_connections": []}


def cons(s: ZooKeeperServer) -> dict[str, Any]:
    return {"connections": _connections(s), "secure_connections": []}


def mntr(s: ZooKeeperServer) -> dict[str, Any]:
    return {k.removeprefix("zk_"): v for k, v in fourlw.mntr_values(s)}


def conf(s: ZooKeeperServer) -> dict[str, Any]:
    c = s.config
    return {
        "client_port": c.client_port,
        "data_dir": os.path.join(c.data_dir, "version-2"),
        "data_log_dir": os.path.join(c.data_log_dir, "version-2"),
        "tick_time": c.tick_time,
        "max_client_cnxns": c.max_client_cnxns,
        "min_session_timeout": c.min_session_timeout,
        "max_session_timeout": c.max_session_timeout,
        "server_id": 0,
        "client_port_listen_backlog": -1,
    }


def envi(s: ZooKeeperServer) -> dict[str, Any]:
    lines = fourlw.envi(s).splitlines()[1:]
    return dict(line.split("=", 1) for line in lines)


def dirs(s: ZooKeeperServer) -> dict[str, Any]:
    stats = _server_stats(s)
    return {"datadir_size": stats["data_dir_size"], "logdir_size": stats["log_dir_size"]}


def wchs(s: ZooKeeperServer) -> dict[str, Any]:
    tree = s.tree
    watchers = set(tree.data_watches.by_watcher) | set(tree.child_watches.by_watcher)
    paths = set(tree.data_watches.by_path) | set(tree.child_watches.by_path)
    return {"num_connections": len(watchers), "num_paths": len(paths),
            "num_total_watches": tree.data_watches.count() + tree.child_watches.count()}


def wchc(s: ZooKeeperServer) -> dict[str, Any]:
    return {"session_id_to_watched_paths": {str(k): v for k, v in fourlw._watches_by_session(s).items()}}


def wchp(s: ZooKeeperServer) -> dict[str, Any]:
    by_path: dict[str, list[int]] = {}
    for sid, paths in fourlw._watches_by_session(s).items():
        for p in paths:
            by_path.setdefault(p, []).append(sid)
    return {"path_to_session_ids": by_path}


def dump(s: ZooKeeperServer) -> dict[str, Any]:
    expiry: dict[str, list[int]] = {}
    for sess in s.sessions.sessions.values():
        expiry.setdefault(str(sess.expire_at), []).append(sess.id)
    ephemerals = {str(sid): paths.order() for sid, paths in s.tree.ephemerals.items() if len(paths)}
    return {"expiry_time_to_session_ids": expiry, "session_id_to_ephemeral_paths": ephemerals}


def isro(s: ZooKeeperServer) -> dict[str, Any]:
    return {"read_only": False}


def ruok(s: ZooKeeperServer) -> dict[str, Any]:
    return {}


def gtmk(s: ZooKeeperServer) -> dict[str, Any]:
    return {"tracemask": s.trace_mask}


def crst(s: ZooKeeperServer) -> dict[str, Any]:
    fourlw.crst(s)
    return {}


def srst(s: ZooKeeperServer) -> dict[str, Any]:
    s.stats.reset()
    return {}


def last_snapshot(s: ZooKeeperServer) -> dict[str, Any]:
    zxid, ts = s.durable.last_snapshot
    return {"zxid": f"0x{zxid:x}", "timestamp": ts}


def digest(s: ZooKeeperServer) -> dict[str, Any]:
    return {"digests": []}


# primary name -> (aliases, implementation), as ZooKeeper 3.8's Commands registry.
COMMANDS: dict[str, tuple[tuple[str, ...], Command]] = {
    "connection_stat_reset": (("crst",), crst),
    "configuration": (("conf", "config"), conf),
    "connections": (("cons",), cons),
    "digest": (("hash",), digest),
    "dirs": ((), dirs),
    "dump": ((), dump),
    "environment": (("env", "envi"), envi),
    "get_trace_mask": (("gtmk",), gtmk),
    "is_read_only": (("isro",), isro),
    "last_snapshot": (("lsnp",), last_snapshot),
    "monitor": (("mntr",), mntr),
    "ruok": ((), ruok),
    "server_stats": (("srvr",), srvr),
    "stats": (("stat",), stat),
    "stat_reset": (("srst",), srst),
    "watches": (("wchc",), wchc),
    "watches_by_path": (("wchp",), wchp),
    "watch_summary": (("wchs",), wchs),
}
_BY_NAME = {name: (primary, fn) for primary, (aliases, fn) in COMMANDS.items() for name in (primary, *aliases)}


def run_command(server: ZooKeeperServer, name: str) -> tuple[int, dict[str, Any]]:
    found = _BY_NAME.get(name)
    if found is None:
        return 404, {"command": name, "error": f"Unknown command: {name}"}
    primary, fn = found
    return 200, {**fn(server), "command": primary, "error": None}


def admin_server(server: ZooKeeperServer) -> HttpServer:
    base = server.config.admin_command_url.rstrip("/") or "/commands"

    def handle(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path.rstrip("/") == base:
            links = "".join(f'<a href="{base}/{name}">{name}</a>\n<br/>\n' for name in sorted(COMMANDS))
            return 200, "text/html", links.encode()
        if not path.startswith(base + "/"):
            return 404, "text/plain", b"not found\n"
        status, body = run_command(server, path[len(base) + 1:].strip("/"))
        return status, "application/json", (json.dumps(body, indent=2) + "\n").encode()

    c = server.config
    return HttpServer(c.admin_server_address, c.admin_server_port, handle, "AdminServer")
