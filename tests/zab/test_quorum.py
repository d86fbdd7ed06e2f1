"""Majority quorums over the participants of zoo.cfg; observers never count."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkeeper.server.config import load_config
from zkeeper.zab.quorum import QuorumMaj, config_text


@pytest.mark.parametrize(("voters", "size"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
def test_majority_is_n_over_2_plus_1(voters: int, size: int) -> None:
    q = QuorumMaj.of(range(1, voters + 1))
    assert q.quorum_size == size
    assert q.contains_quorum(range(1, size + 1))
    assert not q.contains_quorum(range(1, size))


def test_observers_and_strangers_do_not_count() -> None:
    q = QuorumMaj.of([1, 2, 3], [4, 5])
    assert not q.contains_quorum({1, 4, 5, 99})
    assert q.contains_quorum({1, 2, 4})
    assert q.is_voter(1) and not q.is_voter(4)
    assert q.members == {1, 2, 3, 4, 5}


def test_rejects_impossible_ensembles() -> None:
    with pytest.raises(ValueError):
        QuorumMaj.of([], [1])
    with pytest.raises(ValueError):
        QuorumMaj.of([1, 2], [2])


def _write_ensemble(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "myid").write_text("2\n")
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(
        f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={data}\nclientPort=2181\n"
        "server.1=10.0.0.1:2888:3888\n"
        "server.2=10.0.0.2:2888:3888:participant;2181\n"
        "server.3=10.0.0.3:2888:3888\n"
        "server.4=10.0.0.4:2888:3888:observer\n"
    )
    return cfg


def test_from_zoo_cfg(tmp_path: Path) -> None:
    cfg = load_config(str(_write_ensemble(tmp_path)))
    q = QuorumMaj.from_servers(cfg.servers)
    assert q.voters == {1, 2, 3}
    assert q.observers == {4}
    assert cfg.myid == 2 and q.is_voter(cfg.myid)


def test_config_text_is_quorummaj_tostring(tmp_path: Path) -> None:
    cfg = load_config(str(_write_ensemble(tmp_path)))
    assert config_text(cfg.servers) == (
        "server.1=10.0.0.1:2888:3888:participant\n"
        "server.2=10.0.0.2:2888:3888:participant;0.0.0.0:2181\n"
        "server.3=10.0.0.3:2888:3888:participant\n"
        "server.4=10.0.0.4:2888:3888:observer\n"
        "version=0"
    )
