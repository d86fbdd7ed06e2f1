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
