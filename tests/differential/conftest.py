"""Fixtures for differential runs: a fresh Apache ZooKeeper and a fresh candidate per test.

Knobs (environment variables):
  ZK_DIFF_CANDIDATE   zkeeper (default) or zookeeper; the latter runs the reference
                      against itself, which must always pass and so checks the harness
  ZK_DIFF_SEEDS       how many random seeds to run (default 64)
  ZK_DIFF_SEED_BASE   the first seed (default 1); seeds are BASE .. BASE+SEEDS-1
  ZK_DIFF_SEED        run just this one seed (overrides the two above)
  ZK_DIFF_STEPS       steps per seed (default 150)
  ZK_DIFF_SEED_BUDGET wall-clock seconds one seed may take (default 45)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT, RunningServer, reference_available, start_reference, start_zkeeper

from .compare import Run
from .driver import Driver

TICK_TIME_MS = 100
# A session that goes silent expires in ~0.3-0.5 s; live short sessions are pinged every
# step (a few ms apart), so only a stall of more than 300 ms could expire one by accident.
SERVER_EXTRA = {"minSessionTimeout": "300", "maxSessionTimeout": "30000"}
# Container and TTL reaping runs on a timer in ZooKeeper; keep it out of a run's way.
REFERENCE_JVM_FLAGS = ("-Dznode.container.checkIntervalMs=3600000",)
CANDIDATES = ("zkeeper", "zookeeper")
ZKEEPER_ENTRY = REPO_ROOT / "src" / "zkeeper" / "cli" / "zkserver.py"


@dataclass(frozen=True)
class DiffSettings:
    candidate: str
    seeds: tuple[int, ...]
    steps: int
    seed_budget: float


def diff_settings() -> DiffSettings:
    env = os.environ
    candidate = env.get("ZK_DIFF_CANDIDATE", "zkeeper")
    if candidate not in CANDIDATES:
        raise pytest.UsageError(f"ZK_DIFF_CANDIDATE must be one of {CANDIDATES}, not {candidate!r}")
    if "ZK_DIFF_SEED" in env:
        seeds: tuple[int, ...] = (int(env["ZK_DIFF_SEED"]),)
    else:
        base = int(env.get("ZK_DIFF_SEED_BASE", "1"))
        seeds = tuple(range(base, base + int(env.get("ZK_DIFF_SEEDS", "64"))))
    return DiffSettings(candidate, seeds, int(env.get("ZK_DIFF_STEPS", "150")),
                        float(env.get("ZK_DIFF_SEED_BUDGET", "45")))


@dataclass
class ServerPair:
    reference: RunningServer
    candidate: RunningServer

    def run(self, *, context: str = "", replay_hint: str = "") -> Run:
        """Fresh drivers for a lock-step run against this pair."""
        return Run(
            Driver(self.reference.port),
            Driver(self.candidate.port),
            names=(f"reference {self.reference.kind}", f"candidate {self.candidate.kind}"),
            context=context,
            replay_hint=replay_hint,
            reference_log=lambda: describe(self.reference, log_lines=0),
            candidate_log=lambda: describe(self.candidate),
            reference_alive=lambda: self.reference.proc.poll() is None,
        )


def describe(server: RunningServer, log_lines: int = 15) -> str:
    """The server's process state and the end of its log, for failure messages."""
    code = server.proc.poll()
    state = "running" if code is None else f"EXITED with code {code}"
    text = f"{server.kind} pid {server.proc.pid} on port {server.port}: {state}"
    return f"{text}\n{server.log_tail(log_lines)}" if log_lines else text


@pytest.fixture(scope="session")
def settings() -> DiffSettings:
    return diff_settings()


@pytest.fixture
def server_pair(settings: DiffSettings) -> Iterator[ServerPair]:
    """Both servers started side by side from empty data directories, killed afterwards."""
    if not reference_available():
        pytest.skip("Apache ZooKeeper (Debian package zookeeper) and java are needed as the oracle")
    if settings.candidate == "zkeeper" and not ZKEEPER_ENTRY.exists():
        pytest.skip("zkeeper has no server entry point yet; ZK_DIFF_CANDIDATE=zookeeper checks the harness")
    root = Path(tempfile.mkdtemp(prefix="zk-diff-"))
    (root / "reference").mkdir()
    (root / "candidate").mkdir()

    def reference() -> RunningServer:
        return start_reference(root / "reference", tick_time=TICK_TIME_MS, extra=SERVER_EXTRA,
                               jvm_flags=REFERENCE_JVM_FLAGS)

    def candidate() -> RunningServer:
        if settings.candidate == "zookeeper":
            return start_reference(root / "candidate", tick_time=TICK_TIME_MS, extra=SERVER_EXTRA,
                                   jvm_flags=REFERENCE_JVM_FLAGS)
        return start_zkeeper(root / "candidate", tick_time=TICK_TIME_MS, extra=SERVER_EXTRA)

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(reference), pool.submit(candidate)]
    started = [f.result() for f in futures if f.exception() is None]
    try:
        for f in futures:
            if f.exception() is not None:
                raise f.exception()  # type: ignore[misc]
        yield ServerPair(started[0], started[1])
    finally:
        for server in started:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)
