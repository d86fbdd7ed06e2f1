"""zkServer start-foreground as a user runs it: config lookup, bad configs, 4lw whitelist."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT, RunningServer, four_letter, free_port, start_zkeeper


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _zkserver(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "zkeeper.cli.zkserver", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_bad_config_names_file_line_and_key_and_exits_non_zero(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ndataDir={tmp_path}/data\nclientPort=abc\n")
    proc = _zkserver("start-foreground", str(cfg), cwd=tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "zoo.cfg:3: clientPort" in out.decode()


def test_conf_zoo_cfg_is_the_default_config(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "zoo.cfg").write_text(
        f"tickTime=2000\ndataDir={tmp_path}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n")
    proc = _zkserver("start-foreground", cwd=tmp_path)
    server = RunningServer("zkeeper", port, tmp_path, proc, tmp_path / "none", tmp_path / "conf" / "zoo.cfg")  # type: ignore[arg-type]
    try:
        server.wait_ready()
        assert "Mode: standalone" in four_letter(port, "srvr")
    finally:
        server.stop()


def test_no_config_at_all_serves_on_2181(tmp_path: Path) -> None:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 2181)) == 0:
            pytest.skip("port 2181 is taken on this machine, so the default port cannot be tested")
    proc = _zkserver("start-foreground", cwd=tmp_path)
    server = RunningServer("zkeeper", 2181, tmp_path, proc, tmp_path / "none", tmp_path)  # type: ignore[arg-type]
    try:
        server.wait_ready()
        assert (tmp_path / "data").is_dir()
    finally:
        server.stop()


def test_four_letter_words_follow_the_whitelist(tmp_path: Path) -> None:
    server = start_zkeeper(tmp_path, extra={"4lw.commands.whitelist": "srvr, ruok"})
    try:
        assert four_letter(server.port, "ruok") == "imok"
        assert four_letter(server.port, "mntr") == "mntr is not executed because it is not in the whitelist.\n"
        srvr = four_letter(server.port, "srvr")
        assert "Mode: standalone" in srvr and "Node count: 5" in srvr
    finally:
        server.stop()


def test_default_whitelist_is_srvr_only(tmp_path: Path) -> None:
    server = start_zkeeper(tmp_path, extra={"4lw.commands.whitelist": "srvr"})
    try:
        assert "not in the whitelist" in four_letter(server.port, "ruok")
        assert four_letter(server.port, "srvr").startswith("Zookeeper version: ")
    finally:
        server.stop()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zkeeper.cli.zkserver", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=60)


def test_start_status_stop_as_an_operator_does(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ndataDir={tmp_path}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\n")
    started = _cli("start", str(cfg), cwd=tmp_path)
    pid_file = tmp_path / "data" / "zookeeper_server.pid"
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert started.stdout.strip().endswith("STARTED")
        assert pid_file.exists()
        again = _cli("start", str(cfg), cwd=tmp_path)
        assert again.returncode == 1 and "already running as process" in again.stdout
        status = _cli("status", str(cfg), cwd=tmp_path)
        assert status.returncode == 0
        assert status.stdout.splitlines()[-1] == "Mode: standalone"
        pid = int(pid_file.read_text())
    finally:
        stopped = _cli("stop", str(cfg), cwd=tmp_path)
    assert stopped.returncode == 0 and stopped.stdout.strip().endswith("STOPPED")
    assert not pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    down = _cli("status", str(cfg), cwd=tmp_path)
    assert down.returncode == 1
    assert "Error contacting service. It is probably not running." in down.stdout
    assert "no zookeeper to stop" in _cli("stop", str(cfg), cwd=tmp_path).stdout


def test_apache_zkserver_sh_status_sees_our_server(tmp_path: Path) -> None:
    script = Path("/usr/share/zookeeper/bin/zkServer.sh")
    if not script.exists():
        pytest.skip("Apache ZooKeeper's zkServer.sh is not installed (Debian package zookeeper)")
    server = start_zkeeper(tmp_path)
    try:
        env = dict(os.environ, ZOOCFGDIR=str(tmp_path), ZOOCFG=str(server.config_path), ZOO_LOG_DIR=str(tmp_path))
        out = subprocess.run(["bash", str(script), "status", str(server.config_path)], env=env,
                             capture_output=True, text=True, timeout=60)
        assert "Mode: standalone" in out.stdout, out.stdout + out.stderr
        assert out.returncode == 0
    finally:
        server.stop()
