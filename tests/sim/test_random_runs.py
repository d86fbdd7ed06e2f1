"""Many seeded runs: random loss, delay, reordering, partitions and crashes, then a calm
network with a bare quorum up. Any failure prints the line that replays it.

ZKEEPER_SIM_SEEDS=2000 widens the sweep (default 200 per ensemble size).
"""

from __future__ import annotations

import os

import pytest

from zkeeper.sim import PROFILES, InvariantViolation, SimConfig, run

SEEDS = int(os.environ.get("ZKEEPER_SIM_SEEDS", "200"))

def sweep(voters: int, profile: str, seeds: range) -> None:
    failures: list[tuple[int, str]] = []
    for seed in seeds:
        cfg = SimConfig(seed=seed, voters=voters, observers=seed % 3, **PROFILES[profile])  # type: ignore[arg-type]
        try:
            run(cfg)
        except InvariantViolation as e:
            failures.append((seed, str(e)))
    if failures:
        seeds_failed = [s for s, _ in failures]
        pytest.fail(f"{len(failures)} of {len(seeds)} seeds failed: {seeds_failed}\nfirst failure:\n{failures[0][1]}")


@pytest.mark.parametrize("voters", [3, 5, 7])
def test_lan(voters: int) -> None:
    sweep(voters, "lan", range(SEEDS))


@pytest.mark.parametrize("voters", [3, 5, 7])
def test_stormy(voters: int) -> None:
    sweep(voters, "stormy", range(1000, 1000 + SEEDS // 4))
