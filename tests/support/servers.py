"""Start real servers for tests: Apache ZooKeeper (the oracle) and zkeeper.

Both run as subprocesses listening on 127.0.0.1 with a zoo.cfg written into a fresh
folder; `stop()` ends exactly the process we started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
ZK_CONF_DIR = Path("/etc/zookeeper/conf")
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def four_letter(port: int, word: str, timeout: float = 2.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode()


def reference_available() -> bool:
    return ZK_JAR.exists() and shutil.which("java") is not None


@dataclass
class RunningServer:
    kind: str  # "zookeeper" or "zkeeper"
    port: int
    directory: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    config_path: Path
    extra: dict[str, str] = field(default_factory=dict)
    cmd: list[str] = field(default_factory=list)  # how the process was started (for restart_server)
    env: dict[str, str] | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if "Mode:" in four_letter(self.port, "srvr", timeout=1.0):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not start within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def _ready_or_kill(server: RunningServer) -> None:
    try:
        server.wait_ready()
    except BaseException:
        server.kill()
        raise


def write_config(directory: Path, port: int, tick_time: int, extra: dict[str, str]) -> Path:
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = {
        "tickTime": str(tick_time),
        "dataDir": str(data),
        "clientPort": str(port),
        "clientPortAddress": "127.0.0.1",
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "*",
    }
    lines.update(extra)
    cfg = directory / "zoo.cfg"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return cfg


def start_reference(directory: Path, *, tick_time: int = 2000, extra: dict[str, str] | None = None,
                    jvm_flags: tuple[str, ...] = ()) -> RunningServer:
    """Apache ZooKeeper from Debian's `zookeeper` package, standalone."""
    extra = dict(extra or {})
    port = free_port()
    cfg = write_config(directory, port, tick_time, extra)
    log = directory / "server.log"
    cmd = [
        "java", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.extendedTypesEnabled=true", *jvm_flags,
        "-cp", f"{ZK_CONF_DIR}:{ZK_JAR}",
        "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg),
    ]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=directory)
    server = RunningServer("zookeeper", port, directory, proc, log, cfg, extra, cmd)
    _ready_or_kill(server)
    return server


def start_zkeeper(directory: Path, *, tick_time: int = 2000, extra: dict[str, str] | None = None) -> RunningServer:
    """zkeeper from this checkout, standalone, via its zkServer entry point."""
    extra = dict(extra or {})
    extra.setdefault("extendedTypesEnabled", "true")
    port = free_port()
    cfg = write_config(directory, port, tick_time, extra)
    log = directory / "server.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "zkeeper.cli.zkserver", "start-foreground", str(cfg)]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=directory, env=env)
    server = RunningServer("zkeeper", port, directory, proc, log, cfg, extra, cmd, env)
    _ready_or_kill(server)
    return server


def restart_server(server: RunningServer, *, wait: bool = True, timeout: float = 30.0) -> RunningServer:
    """Start a new process like `server` (same command, zoo.cfg, port and data), after it
    has exited; its output goes to a new log file next to the first one (server.2.log, ...).

    With wait=False the new server is returned as soon as it is launched (for tests that
    expect it to refuse to start); otherwise once it answers `srvr`, or it is killed."""
    if server.proc.poll() is None:
        raise RuntimeError(f"{server.kind} on port {server.port} is still running")
    if not server.cmd:
        raise RuntimeError("restart_server needs a server started by start_zkeeper/start_reference")
    n = 2
    while (server.directory / f"server.{n}.log").exists():
        n += 1
    log = server.directory / f"server.{n}.log"
    proc = subprocess.Popen(server.cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=server.directory,
                            env=server.env)
    again = RunningServer(server.kind, server.port, server.directory, proc, log, server.config_path,
                          dict(server.extra), list(server.cmd), server.env)
    if wait:
        try:
            again.wait_ready(timeout)
        except BaseException:
            again.kill()
            raise
    return again
