"""Pseudo-clusters on 127.0.0.1: N participants (+ observers) of Apache ZooKeeper or zkeeper.

The harness knows nothing about either implementation beyond the command that starts a
member and the `srvr` four-letter word that says what a member is doing, so the same
tests and benchmarks run against both.

Each member gets its own folder::

    <directory>/member<sid>/zoo.cfg
    <directory>/member<sid>/data/myid
    <directory>/member<sid>/server.log      (server.2.log, ... after restarts)

Every member's zoo.cfg lists the whole ensemble (`server.N=127.0.0.1:quorumPort:electionPort`,
`:observer` for observers), and observers also say `peerType=observer`. Every port is a
distinct free port on 127.0.0.1. `stop()` (or leaving the `with` block) ends exactly the
processes this ensemble started, by their pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.servers import REPO_ROOT, ZK_CONF_DIR, ZK_JAR, four_letter, free_port

IMPLS = ("zookeeper", "zkeeper")
HOST = "127.0.0.1"

# Debian's zookeeper.jar names its dependencies in its manifest's Class-Path, but no SLF4J
# binding: without one ZooKeeper logs nothing. slf4j-simple writes to stderr (our log file).
SLF4J_SIMPLE = Path("/usr/share/java/slf4j-simple.jar")
# Small heap, C1 only: quick start-up for tests (five JVMs share two cores).
TEST_JVM_FLAGS = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")
LOG_PROPS = (
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
    # one INFO line per four-letter word would bury everything else (we poll `srvr`)
    "-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.server.NIOServerCnxn=warn",
)


class EnsembleError(RuntimeError):
    """A member died, or the ensemble did not reach the awaited state in time."""


@dataclass
class Member:
    sid: int
    client_port: int
    quorum_port: int
    election_port: int
    directory: Path
    observer: bool = False
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    starts: int = 0

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def config_path(self) -> Path:
        return self.directory / "zoo.cfg"

    @property
    def hosts(self) -> str:
        return f"{HOST}:{self.client_port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def server_line(self) -> str:
        role = ":observer" if self.observer else ""
        return f"{HOST}:{self.quorum_port}:{self.election_port}{role}"


def reference_classpath() -> str:
    parts = [str(ZK_CONF_DIR), str(ZK_JAR)]
    if SLF4J_SIMPLE.exists():
        parts.append(str(SLF4J_SIMPLE))
    return ":".join(parts)


def member_command(impl: str, cfg: Path, jvm_flags: tuple[str, ...] = TEST_JVM_FLAGS) -> list[str]:
    if impl == "zookeeper":
        return ["java", *jvm_flags, *LOG_PROPS, "-cp", reference_classpath(),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(cfg)]
    if impl == "zkeeper":
        return [sys.executable, "-m", "zkeeper.cli.zkserver", "start-foreground", str(cfg)]
    raise ValueError(f"unknown implementation {impl!r} (expected one of {IMPLS})")


def member_env(impl: str) -> dict[str, str] | None:
    if impl != "zkeeper":
        return None
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    for _ in range(count * 20):
        p = free_port()
        if p not in ports:
            ports.append(p)
            if len(ports) == count:
                return ports
    raise EnsembleError(f"could not find {count} distinct free ports")


def reap(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a signalled process to exit; SIGKILL it if it has not within `timeout`."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def parse_mode(srvr: str) -> str | None:
    for line in srvr.splitlines():
        if line.startswith("Mode:"):
            return line[len("Mode:"):].strip()
    return None


@dataclass
class Ensemble:
    impl: str
    directory: Path
    members: dict[int, Member]
    tick_time: int = 200
    init_limit: int = 10
    sync_limit: int = 5
    extra: dict[str, str] = field(default_factory=dict)
    jvm_flags: tuple[str, ...] = TEST_JVM_FLAGS
    # members started and not deliberately killed since: one of them exiting is an error
    wanted: set[int] = field(default_factory=set)
    # members that run the other implementation (a mixed ensemble): sid -> impl
    mixed: dict[int, str] = field(default_factory=dict)

    # ---- set-up ---------------------------------------------------------------------

    @classmethod
    def create(cls, impl: str, directory: Path, n: int = 3, *, observers: int = 0, tick_time: int = 200,
               init_limit: int = 10, sync_limit: int = 5, extra: dict[str, str] | None = None,
               jvm_flags: tuple[str, ...] = TEST_JVM_FLAGS) -> Ensemble:
        """Folders, zoo.cfg and myid for every member; nothing is started."""
        if impl not in IMPLS:
            raise ValueError(f"unknown implementation {impl!r} (expected one of {IMPLS})")
        total = n + observers
        ports = distinct_free_ports(3 * total)
        members: dict[int, Member] = {}
        for i in range(total):
            sid = i + 1
            client, quorum, election = ports[3 * i: 3 * i + 3]
            members[sid] = Member(sid, client, quorum, election, directory / f"member{sid}", observer=i >= n)
        ens = cls(impl, directory, members, tick_time, init_limit, sync_limit, dict(extra or {}), jvm_flags)
        for m in members.values():
            m.data_dir.mkdir(parents=True, exist_ok=True)
            (m.data_dir / "myid").write_text(f"{m.sid}\n")
            m.config_path.write_text(ens.config_text(m))
        return ens

    def config_text(self, m: Member) -> str:
        lines = {
            "tickTime": str(self.tick_time),
            "initLimit": str(self.init_limit),
            "syncLimit": str(self.sync_limit),
            "dataDir": str(m.data_dir),
            "clientPort": str(m.client_port),
            "clientPortAddress": HOST,
            "admin.enableServer": "false",
            "4lw.commands.whitelist": "*",
        }
        if m.observer:
            lines["peerType"] = "observer"
        lines.update(self.extra)
        for other in sorted(self.members):
            lines[f"server.{other}"] = self.members[other].server_line()
        return "".join(f"{k}={v}\n" for k, v in lines.items())

    # ---- processes --------------------------------------------------------------------

    def _sids(self, sids: Iterable[int] | None) -> list[int]:
        if sids is None:
            return sorted(self.members)
        out = sorted(int(s) for s in sids)
        for s in out:
            if s not in self.members:
                raise KeyError(f"no member {s} (members: {sorted(self.members)})")
        return out

    def start(self, sids: Iterable[int] | None = None) -> None:
        """Launch the given members (default: all) that are not running; does not wait."""
        for sid in self._sids(sids):
            m = self.members[sid]
            self.wanted.add(sid)
            if m.alive:
                continue
            m.starts += 1
            m.log_path = m.directory / ("server.log" if m.starts == 1 else f"server.{m.starts}.log")
            impl = self.mixed.get(sid, self.impl)
            env = member_env(impl)
            cmd = member_command(impl, m.config_path, self.jvm_flags)
            with m.log_path.open("wb") as log:
                m.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=m.directory, env=env)

    def kill(self, sid: int, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the member's process and wait (bounded) until it is gone."""
        m = self.members[sid]
        self.wanted.discard(sid)
        if m.proc is None or m.proc.poll() is not None:
            return
        m.proc.send_signal(sig)
        reap(m.proc, 10)

    def restart(self, sid: int, *, wipe: bool = False, wait: bool = True, timeout: float = 30) -> None:
        """Kill the member if it still runs, optionally delete its data (keeping myid), start it
        again with the same zoo.cfg and ports, and (with `wait`) wait until it serves."""
        self.kill(sid)
        m = self.members[sid]
        if wipe:
            for entry in m.data_dir.iterdir():
                if entry.name == "myid":
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        self.start([sid])
        if wait:
            self.wait_serving([sid], timeout=timeout)

    def stop(self) -> None:
        """End every process this ensemble started: SIGTERM, then SIGKILL after 5 s."""
        self.wanted.clear()
        running = [m for m in self.members.values() if m.alive]
        for m in running:
            assert m.proc is not None
            m.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for m in running:
            assert m.proc is not None
            reap(m.proc, max(0.1, deadline - time.monotonic()))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- observation ------------------------------------------------------------------

    def live(self) -> list[int]:
        return [sid for sid in sorted(self.members) if self.members[sid].alive]

    def mode(self, sid: int) -> str | None:
        """"leader", "follower", "observer" (or "standalone"), from `srvr`; None when the member
        is down or not serving (e.g. during an election)."""
        m = self.members[sid]
        if not m.alive:
            return None
        try:
            return parse_mode(four_letter(m.client_port, "srvr", timeout=1.0))
        except OSError:
            return None

    def modes(self) -> dict[int, str | None]:
        return {sid: self.mode(sid) for sid in sorted(self.members)}

    def _check_alive(self, sids: list[int]) -> None:
        for sid in sids:
            m = self.members[sid]
            if m.proc is None:
                raise EnsembleError(f"member {sid} was never started")
            if m.proc.poll() is not None:
                raise EnsembleError(f"member {sid} ({self.impl}) exited with {m.proc.returncode}:\n"
                                    f"{self.log_tail(sid)}")

    def _standalone_check(self, sid: int, mode: str | None) -> None:
        if mode == "standalone":
            raise EnsembleError(f"member {sid} ({self.impl}) runs standalone, not as part of the ensemble:\n"
                                f"{self.log_tail(sid)}")

    def leader(self, timeout: float = 30) -> int:
        """Wait until exactly one live member says `Mode: leader`; its sid."""
        deadline = time.monotonic() + timeout
        seen: dict[int, str | None] = {}
        while True:
            self._check_alive(sorted(self.wanted))
            seen = {}
            for sid in self.live():
                seen[sid] = self.mode(sid)
                self._standalone_check(sid, seen[sid])
            leaders = [sid for sid, mode in seen.items() if mode == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            if time.monotonic() >= deadline:
                raise EnsembleError(f"no single leader within {timeout}s (modes: {seen})\n{self.describe()}")
            time.sleep(0.02)

    def wait_serving(self, sids: Iterable[int] | None = None, timeout: float = 30) -> None:
        """Wait until every given member answers `srvr` with a Mode; by default every member
        started and not killed since (one that exited on its own is an error)."""
        wanted = self._sids(sids) if sids is not None else sorted(self.wanted)
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive(wanted)
            pending = []
            for sid in wanted:
                mode = self.mode(sid)
                self._standalone_check(sid, mode)
                if mode is None:
                    pending.append(sid)
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise EnsembleError(f"members {pending} not serving within {timeout}s\n{self.describe()}")
            time.sleep(0.02)

    def hosts(self, sids: Iterable[int] | None = None) -> str:
        return ",".join(self.members[sid].hosts for sid in self._sids(sids))

    def log_tail(self, sid: int, n: int = 40) -> str:
        path = self.members[sid].log_path
        if path is None:
            return "(never started)"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def describe(self, n: int = 15) -> str:
        """Every member's state and last log lines, for failure messages."""
        parts = []
        for sid, m in sorted(self.members.items()):
            state = f"mode={self.mode(sid)}" if m.alive else (
                "not started" if m.proc is None else f"exited {m.proc.returncode}")
            parts.append(f"--- member {sid}{' (observer)' if m.observer else ''} port {m.client_port}: {state}\n"
                         f"{self.log_tail(sid, n)}")
        return "\n".join(parts)


def start_ensemble(impl: str, directory: Path, n: int = 3, *, observers: int = 0, tick_time: int = 200,
                   init_limit: int = 10, sync_limit: int = 5, extra: dict[str, str] | None = None,
                   jvm_flags: tuple[str, ...] = TEST_JVM_FLAGS, timeout: float = 30) -> Ensemble:
    """Create and start an ensemble; returns once every member serves and one leads.
    On failure everything started is stopped and EnsembleError is raised."""
    ens = Ensemble.create(impl, directory, n, observers=observers, tick_time=tick_time, init_limit=init_limit,
                          sync_limit=sync_limit, extra=extra, jvm_flags=jvm_flags)
    try:
        ens.start()
        deadline = time.monotonic() + timeout
        ens.wait_serving(timeout=timeout)
        ens.leader(timeout=max(1.0, deadline - time.monotonic()))
    except BaseException:
        ens.stop()
        raise
    return ens
