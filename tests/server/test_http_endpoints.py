"""The admin server (JSON commands) and the Prometheus endpoint, fetched with curl."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import free_port, start_zkeeper

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl(url: str) -> tuple[int, str]:
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", url], capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    return int(code), body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    admin, metrics = free_port(), free_port()
    srv = start_zkeeper(tmp_path_factory.mktemp("http"), extra={
        "admin.enableServer": "true",
        "admin.serverAddress": "127.0.0.1",
        "admin.serverPort": str(admin),
        "metricsProvider.className": "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider",
        "metricsProvider.httpHost": "127.0.0.1",
        "metricsProvider.httpPort": str(metrics),
    })
    client = KazooClient(srv.hosts)
    client.start()
    client.create("/m", b"12345")
    client.create("/eph", ephemeral=True)
    client.get("/m", watch=lambda e: None)
    yield srv, admin, metrics
    client.stop()
    client.close()
    srv.stop()


def test_ruok_and_aliases(server) -> None:
    _, admin, _ = server
    code, body = curl(f"http://127.0.0.1:{admin}/commands/ruok")
    assert code == 200 and json.loads(body) == {"command": "ruok", "error": None}
    code, body = curl(f"http://127.0.0.1:{admin}/commands/srvr")
    doc = json.loads(body)
    assert doc["command"] == "server_stats" and doc["server_stats"]["server_state"] == "standalone"
    assert doc["node_count"] == 7


def test_monitor_reports_the_tree(server) -> None:
    _, admin, _ = server
    doc = json.loads(curl(f"http://127.0.0.1:{admin}/commands/monitor")[1])
    assert doc["znode_count"] == 7 and doc["ephemerals_count"] == 1 and doc["watch_count"] == 1
    assert doc["server_state"] == "standalone"


def test_watches_and_unknown_command(server) -> None:
    _, admin, _ = server
    summary = json.loads(curl(f"http://127.0.0.1:{admin}/commands/wchs")[1])
    assert summary["num_total_watches"] == 1 and summary["num_paths"] == 1
    code, body = curl(f"http://127.0.0.1:{admin}/commands/nosuch")
    assert code == 404 and "Unknown command" in json.loads(body)["error"]
    code, listing = curl(f"http://127.0.0.1:{admin}/commands")
    assert code == 200 and "/commands/monitor" in listing


def test_prometheus_metrics_parse_and_carry_zookeepers_names(server) -> None:
    _, _, metrics = server
    code, body = curl(f"http://127.0.0.1:{metrics}/metrics")
    assert code == 200
    families = {f.name: f for f in text_string_to_metric_families(body)}
    for name in ("znode_count", "watch_count", "ephemerals_count", "approximate_data_size",
                 "outstanding_requests", "num_alive_connections", "packets_received", "packets_sent",
                 "readlatency", "updatelatency", "fsynctime"):
        assert name in families, name
    assert families["znode_count"].samples[0].value == 7
    assert families["ephemerals_count"].samples[0].value == 1
    counts = {s.name: s.value for s in families["updatelatency"].samples}
    assert counts["updatelatency_count"] >= 3  # createSession + two creates


def test_admin_server_is_off_when_disabled(tmp_path: Path) -> None:
    port = free_port()
    srv = start_zkeeper(tmp_path, extra={"admin.enableServer": "false", "admin.serverPort": str(port)})
    try:
        out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/commands/ruok"], capture_output=True, timeout=30)
        assert out.returncode != 0  # connection refused
    finally:
        srv.stop()
