"""The simulator's own parts: the scheduler and the virtual network."""

from __future__ import annotations

import random

import pytest

from zkeeper.sim.network import NetConfig, Network
from zkeeper.sim.scheduler import BudgetExceeded, Scheduler


def test_scheduler_runs_in_time_then_insertion_order() -> None:
    s = Scheduler(100)
    seen: list[str] = []
    s.at(5, lambda: seen.append("b"))
    s.at(1, lambda: seen.append("a"))
    s.at(5, lambda: seen.append("c"))
    s.at(9, lambda: seen.append("late"))
    s.run_until(5)
    assert seen == ["a", "b", "c"] and s.now == 5


def test_scheduler_budget_stops_a_storm() -> None:
    s = Scheduler(50)

    def again() -> None:
        s.after(0, again)

    s.at(0, again)
    with pytest.raises(BudgetExceeded):
        s.run_until(10)


def make_net(**kw: float) -> tuple[Scheduler, Network]:
    s = Scheduler(10_000)
    net = Network(s, random.Random(7), NetConfig(**kw))  # type: ignore[arg-type]
    for n in (1, 2, 3):
        net.node_up(n, 1)
    return s, net


def test_datagrams_reorder_and_partitions_cut() -> None:
    s, net = make_net(min_delay=1, max_delay=50)
    got: list[int] = []
    for i in range(30):
        net.send(1, 2, i, lambda src, p: got.append(p))
    s.run_until(100)
    assert sorted(got) == list(range(30)) and got != sorted(got)
    net.partition([{1}, {2, 3}])
    net.send(1, 2, 99, lambda src, p: got.append(p))
    s.run_until(200)
    assert 99 not in got


def test_messages_in_flight_to_a_restarted_node_are_lost() -> None:
    s, net = make_net(min_delay=10, max_delay=10)
    got: list[int] = []
    net.send(1, 2, 1, lambda src, p: got.append(p))
    net.node_down(2)
    net.node_up(2, 2)
    s.run_until(50)
    assert got == []


def test_connections_keep_order_and_break_for_good() -> None:
    s, net = make_net(min_delay=1, max_delay=50)
    conn = net.connect(1, 2)
    got: list[int] = []
    for i in range(30):
        net.send_on(conn, 1, i, lambda c, p: got.append(p))
    s.run_until(2000)
    assert got == list(range(30))
    net.partition([{1}, {2, 3}])
    net.send_on(conn, 1, 30, lambda c, p: got.append(p))
    net.heal()
    net.send_on(conn, 1, 31, lambda c, p: got.append(p))
    s.run_until(4000)
    assert got == list(range(30)) and conn.broken
