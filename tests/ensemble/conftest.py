"""Fixtures for the ensemble tests: the implementation under test, started ensembles and
kazoo clients, each stopped at the end of its test (processes by pid, clients by stop())."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# `clients(hosts, **kazoo_kwargs)`: started KazooClients (4 s sessions, reconnecting every <= 0.5 s,
# which suits elections of a few hundred ms), stopped after the test.
from tests.interop.test_kazoo_scenarios import clients  # noqa: F401
from tests.support.ensemble import Ensemble, start_ensemble
from tests.support.servers import reference_available

# zkeeper's replicated mode (ZAB) is being built; drop this mark once it forms ensembles.
def impl_params() -> list[Any]:
    """`impl` values for every ensemble test: the same scenarios on both servers."""
    return [pytest.param("zookeeper", id="zookeeper"), pytest.param("zkeeper", id="zkeeper")]


@pytest.fixture(params=impl_params())
def impl(request: pytest.FixtureRequest) -> str:
    if request.param == "zookeeper" and not reference_available():
        pytest.skip("Apache ZooKeeper (Debian package 'zookeeper') and java are not installed")
    return str(request.param)


EnsembleFactory = Callable[..., Ensemble]


@pytest.fixture
def ensembles(impl: str, tmp_path: Path) -> Iterator[EnsembleFactory]:
    """`ensembles(n=3, observers=0, ...)`: a started ensemble of `impl` (one leader, all serving)."""
    started: list[Ensemble] = []

    def make(n: int = 3, **kwargs: Any) -> Ensemble:
        ens = start_ensemble(impl, tmp_path / f"ensemble{len(started)}", n, **kwargs)
        started.append(ens)
        return ens

    yield make
    for ens in started:
        ens.stop()


