"""Seeded random request sequences: Apache ZooKeeper and the candidate must agree on all of it.

Several sessions create, read, update and delete nodes in a tiny tree, set one-shot and
persistent watches, authenticate, run multi and multiRead, drop and resume their
connections (with SetWatches), close, and go silent until they expire. Every reply,
watch event and ping reply must match field by field (see `driver.py` for what is
normalised). Replay one seed with `ZK_DIFF_SEED=<seed>`.
"""

from __future__ import annotations

import pytest

from .compare import Deadline
from .conftest import DiffSettings, ServerPair, diff_settings
from .generator import Generator

pytestmark = pytest.mark.differential


@pytest.mark.parametrize("seed", diff_settings().seeds)
def test_random_sequence_matches_reference(seed: int, settings: DiffSettings, server_pair: ServerPair) -> None:
    steps = settings.steps
    run = server_pair.run(
        context=f"seed={seed}",
        replay_hint=f"ZK_DIFF_SEED={seed} ZK_DIFF_STEPS={steps} ZK_DIFF_CANDIDATE={settings.candidate} "
        "python -m pytest tests/differential/test_random_sequences.py",
    )
    generator = Generator(seed)
    deadline = Deadline(settings.seed_budget)
    try:
        for _ in range(steps):
            step = generator.next_step()
            generator.observe(step, run.step(step))
            deadline.check(f"seed={seed} step {run.steps_run}")
    finally:
        run.close()
