"""The simulator running real zkeeper servers (QuorumPeer, election service, leader,
learner, durable log) on a virtual clock and network, many seeds per run.

ZKEEPER_SERVER_SIM_SEEDS widens the sweep (default 200 three-voter runs, a fifth as
many five-voter runs with an observer). A failing seed prints its replay command.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import pytest

from zkeeper.server.leader import Leader
from zkeeper.sim.ensemble import EnsembleInvariantViolation, EnsembleSimConfig, close_loop, run_ensemble
from zkeeper.sim.world import SimNetwork, VirtualLoop

SEEDS = int(os.environ.get("ZKEEPER_SERVER_SIM_SEEDS", "200"))


def sweep(tmp_path: Path, seeds: range, **kw: Any) -> int:
    failures: list[str] = []
    acked = 0
    for seed in seeds:
        cfg = EnsembleSimConfig(seed=seed, **kw)
        try:
            acked += run_ensemble(cfg, tmp_path / "run").acked
        except EnsembleInvariantViolation as e:
            failures.append(f"{e}\n  replay: python -m zkeeper.sim --servers --voters {cfg.voters} "
                            f"--observers {cfg.observers} --faults-ms {cfg.faults_for_ms} --seeds {seed} --verbose")
    assert not failures, f"{len(failures)} of {len(seeds)} seeds failed:\n" + "\n".join(failures[:5])
    return acked


def test_three_voters_under_crashes_partitions_and_resets(tmp_path: Path) -> None:
    acked = sweep(tmp_path, range(SEEDS), faults_for_ms=4_000)
    assert acked > 50 * SEEDS  # the load really ran through the faults


def test_five_voters_and_an_observer(tmp_path: Path) -> None:
    sweep(tmp_path, range(10_000, 10_000 + max(SEEDS // 5, 1)), voters=5, observers=1,
          faults_for_ms=6_000, mean_fault_gap_ms=500)


def test_a_seed_replays_exactly(tmp_path: Path) -> None:
    first = run_ensemble(EnsembleSimConfig(seed=11), tmp_path / "a")
    again = run_ensemble(EnsembleSimConfig(seed=11), tmp_path / "b")
    assert first == again
    assert first.faults and len(first.leaders) > 1  # it really failed over


def test_the_checks_catch_a_leader_that_commits_without_a_quorum(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    class AnyAck:
        """A broken quorum rule: one ack (the leader's own) is enough."""

        def __init__(self, real: Any) -> None:
            self.real = real

        def contains_quorum(self, sids: Any) -> bool:
            return bool(set(sids))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    original = Leader.__init__

    def broken(self: Leader, *args: Any, **kw: Any) -> None:
        original(self, *args, **kw)
        self.quorum = AnyAck(self.quorum)  # type: ignore[assignment]

    monkeypatch.setattr(Leader, "__init__", broken)
    caught = []
    for seed in range(1, 41):
        try:
            run_ensemble(EnsembleSimConfig(seed=seed, mean_fault_gap_ms=400), tmp_path / "run")
        except EnsembleInvariantViolation as e:
            caught.append(str(e))
    assert any("is lost" in c for c in caught), caught


def test_a_connection_delivers_in_order_even_when_writes_land_at_the_same_instant() -> None:
    """Regression (found by the first seeds): timers due at the same time ran in any order,
    so a follower saw proposal 0xc before 0xb on one TCP connection."""
    loop = VirtualLoop()
    net = SimNetwork(loop, random.Random(3), min_delay_ms=1, max_delay_ms=1)
    received = bytearray()

    async def main() -> None:
        server, client = net.host("a"), net.host("b")

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(1000):
                received.extend(chunk)

        await server.listen("127.0.0.1", 1, serve)
        _, writer = await client.connect("127.0.0.1", 1)
        for i in range(200):
            writer.write(bytes([i]))
        await asyncio.sleep(1)
        writer.close()
        await asyncio.sleep(1)

    try:
        loop.run_until_complete(main())
    finally:
        close_loop(loop)
    assert bytes(received) == bytes(range(200))
