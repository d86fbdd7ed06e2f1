"""Prometheus metrics on `metricsProvider.httpPort` (/metrics), with ZooKeeper's metric names.

Enabled as in ZooKeeper, by `metricsProvider.className` naming the Prometheus provider.
Gauges are read from the server when scraped; latencies are summaries in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .http import HttpServer
from .stats import QUANTILES, Summary

if TYPE_CHECKING:
    from .config import ServerConfig
    from .standalone import ZooKeeperServer


def _gauges(s: ZooKeeperServer) -> list[tuple[str, str, float]]:
    tree, st = s.tree, s.stats
    return [
        ("znode_count", "Number of znodes", tree.node_count + 1),
        ("watch_count", "Number of watches", tree.data_watches.count() + tree.child_watches.count()),
        ("ephemerals_count", "Number of ephemeral nodes", tree.ephemeral_count()),
        ("approximate_data_size", "Approximate size of the data tree in bytes", tree.approximate_data_size),
        ("outstanding_requests", "Requests not yet answered", st.outstanding),
        ("num_alive_connections", "Client connections", len(s.connections)),
        ("global_sessions", "Live sessions", len(s.sessions.sessions)),
        ("packets_received", "Packets received from clients", st.packets_received),
        ("packets_sent", "Packets sent to clients", st.packets_sent),
        ("min_latency", "Minimum request latency in ms", st.latency_min_ms),
        ("avg_latency", "Average request latency in ms", st.latency_avg_ms),
        ("max_latency", "Maximum request latency in ms", st.latency_max_ms),
        ("last_processed_zxid", "Last applied zxid", tree.last_processed_zxid),
        ("uptime", "Milliseconds since start", s.uptime_ms()),
    ]


def _role_gauges(s: ZooKeeperServer) -> list[tuple[str, str, float]]:
    """The role's numbers (a leader's learners and proposals, election time), named as mntr's."""
    return [(key.removeprefix("zk_"), f"{key.removeprefix('zk_').replace('_', ' ')} ({s.mode})", float(value))
            for key, value in s.role_metrics() if isinstance(value, (int, float))]


def _summary(name: str, help_: str, summary: Summary) -> str:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} summary"]
    for q in QUANTILES:
        lines.append(f'{name}{{quantile="{q}"}} {summary.quantile(q)}')
    lines.append(f"{name}_count {summary.count}")
    lines.append(f"{name}_sum {summary.total}")
    return "\n".join(lines) + "\n"


def render(s: ZooKeeperServer) -> str:
    out = []
    for name, help_, value in _gauges(s) + _role_gauges(s):
        out.append(f"# HELP {name} {help_}\n# TYPE {name} gauge\n{name} {float(value)}\n")
    st = s.stats
    out.append(_summary("readlatency", "Read request latency in ms", st.read_latency))
    out.append(_summary("updatelatency", "Update request latency in ms", st.update_latency))
    out.append(_summary("fsynctime", "Time to fsync the transaction log in ms", st.fsync_time))
    out.append(_summary("snapshottime", "Time to write a snapshot in ms", st.snapshot_time))
    return "".join(out)


def metrics_server(config: ServerConfig, current: Callable[[], ZooKeeperServer | None]) -> HttpServer:
    """Scrapes read `current()`: the server, or in an ensemble the role now serving
    (None between roles: 503, as ZooKeeper's endpoints say it is not serving)."""

    def handle(method: str, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path.rstrip("/") != "/metrics":
            return 404, "text/plain", b"not found\n"
        s = current()
        if s is None:
            return 503, "text/plain", b"This ZooKeeper instance is not currently serving requests\n"
        return 200, "text/plain; version=0.0.4; charset=utf-8", render(s).encode()

    c = config
    return HttpServer(c.metrics_http_host, c.metrics_http_port, handle, "PrometheusMetricsProvider")
