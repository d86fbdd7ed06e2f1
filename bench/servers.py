"""Start, watch and stop the two servers under test, with identical zoo.cfg values.

Both servers get the same config keys, a fresh dataDir under the same work directory
(same disk), 127.0.0.1 only, the same CPU pinning and the same open-file limit (set
in the child before exec, so every thread, JVM ones included, inherits them).
`stop()` signals exactly the process we started, by its pid.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from zkwire import REPO_ROOT, HOST, four_letter, free_port

ZK_JAR = Path("/usr/share/java/zookeeper.jar")
ZK_CONF_DIR = Path("/etc/zookeeper/conf")
KINDS = ("zookeeper", "zkeeper")
LABEL = {"zookeeper": "ZooKeeper", "zkeeper": "zkeeper"}


def base_config(data_dir: Path, port: int) -> dict[str, str]:
    """The zoo.cfg both servers get (tickTime 2000; everything else at its default except
    what a load test on one IP needs: no per-IP connection cap, no admin HTTP server)."""
    return {
        "tickTime": "2000",
        "dataDir": str(data_dir),
        "clientPort": str(port),
        "clientPortAddress": HOST,
        "maxClientCnxns": "0",
        "admin.enableServer": "false",
    }


def zk_command(cfg: Path) -> list[str]:
    return ["java", "-cp", f"{ZK_CONF_DIR}:{ZK_JAR}", "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)]


def zkeeper_command(cfg: Path) -> list[str]:
    return [sys.executable, "-m", "zkeeper.cli.zkserver", "start-foreground", str(cfg)]


def zkeeper_env(extra_pythonpath: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    parts = [str(REPO_ROOT / "src")]
    if extra_pythonpath:
        parts.append(extra_pythonpath)
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def _preexec(cpus: set[int] | None):
    def fn() -> None:
        os.setsid()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if cpus:
            os.sched_setaffinity(0, cpus)
    return fn


def _tree_cpu(pid: int, own_children: bool, depth: int = 0) -> int:
    """utime+stime (+cutime+cstime at the top) of pid and its live descendants, in ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])
    if own_children:
        ticks += int(fields[13]) + int(fields[14])
    if depth < 4:
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            tasks = []
        for t in tasks:
            try:
                kids = (t / "children").read_text().split()
            except OSError:
                continue
            for k in kids:
                ticks += _tree_cpu(int(k), own_children=True, depth=depth + 1)
    return ticks


@dataclass
class Server:
    kind: str
    port: int
    directory: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    started_at: float            # monotonic, just before Popen

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_serving(self, timeout: float = 120.0, poll: float = 0.005) -> float:
        """Poll `srvr` until it reports a Mode; returns seconds since process start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if "Mode:" in four_letter(self.port, "srvr", timeout=1.0):
                    return time.monotonic() - self.started_at
            except OSError:
                pass
            time.sleep(poll)
        raise RuntimeError(f"{self.kind} did not serve within {timeout}s:\n{self.log_tail()}")

    def node_count(self) -> int:
        for line in four_letter(self.port, "srvr").splitlines():
            if line.startswith("Node count:"):
                return int(line.split(":")[1])
        raise RuntimeError("no Node count in srvr output")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """CPU time of the server: all its threads, its reaped children (cutime/cstime) and
        its live descendants (zkeeper forks a child to write snapshots; that work counts)."""
        return _tree_cpu(self.pid, own_children=True) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start(kind: str, directory: Path, *, cpus: set[int] | None, data_dir: Path | None = None,
          wait: bool = True, zkeeper_pythonpath: str | None = None) -> Server:
    """Write zoo.cfg into `directory` (dataDir `directory/data` unless given) and start."""
    directory.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir or directory / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg = directory / "zoo.cfg"
    cfg.write_text("".join(f"{k}={v}\n" for k, v in base_config(data_dir, port).items()))
    log = directory / f"{kind}.log"
    if kind == "zookeeper":
        cmd, env = zk_command(cfg), None
    elif kind == "zkeeper":
        cmd, env = zkeeper_command(cfg), zkeeper_env(zkeeper_pythonpath)
    else:
        raise ValueError(kind)
    with log.open("ab") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=directory, env=env, preexec_fn=_preexec(cpus))
    server = Server(kind, port, directory, proc, log, t0)
    if wait:
        try:
            server.wait_serving()
        except BaseException:
            server.stop()
            raise
    return server


def restart_same(server: Server, *, cpus: set[int] | None, zkeeper_pythonpath: str | None = None) -> Server:
    """Start the same kind again on the same config/dataDir and port (after stop())."""
    cfg = server.directory / "zoo.cfg"
    if server.kind == "zookeeper":
        cmd, env = zk_command(cfg), None
    else:
        cmd, env = zkeeper_command(cfg), zkeeper_env(zkeeper_pythonpath)
    with server.log_path.open("ab") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=server.directory, env=env, preexec_fn=_preexec(cpus))
    return Server(server.kind, server.port, server.directory, proc, server.log_path, t0)


def java_heap_used(pid: int) -> int | None:
    """Bytes of Java heap in use after a full GC (jcmd), or None if jcmd is unavailable."""
    try:
        subprocess.run(["jcmd", str(pid), "GC.run"], capture_output=True, timeout=60, check=True)
        out = subprocess.run(["jcmd", str(pid), "GC.heap_info"], capture_output=True, timeout=60,
                             check=True, text=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0
    found = False
    for line in out.splitlines():
        parts = line.replace(",", " ").split()
        if "used" in parts and ("total" in parts or "heap" in line.lower()):
            i = parts.index("used")
            if i + 1 < len(parts) and parts[i + 1].endswith("K"):
                # "def new generation total 1234K, used 567K" / "tenured ... used 89K"
                if "Metaspace" in line or "class space" in line:
                    continue
                total += int(parts[i + 1][:-1]) * 1024
                found = True
    return total if found else None
