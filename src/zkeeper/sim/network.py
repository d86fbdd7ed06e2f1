"""The virtual network: who can reach whom, when a message lands, and which are lost.

Two kinds of traffic. Datagrams (the election port) are lost and delayed independently,
so they also arrive out of order: harsher than ZooKeeper's TCP, which the election must
survive anyway. Connections (the quorum port) keep order like TCP; losing any message
breaks the connection for good, and so does a crash or a partition between the ends.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .scheduler import Scheduler


@dataclass(frozen=True, slots=True)
class NetConfig:
    drop: float = 0.0  # chance a datagram is lost
    break_chance: float = 0.0  # chance a connection message is lost (and the connection with it)
    min_delay: int = 1  # ms
    max_delay: int = 20


@dataclass(slots=True, eq=False)
class Conn:
    id: int
    a: int
    b: int
    incarnations: tuple[int, int]
    broken: bool = False
    arrival: dict[int, int] = field(default_factory=dict)  # sender -> last arrival time (FIFO)

    def other(self, me: int) -> int:
        assert me in (self.a, self.b)
        return self.b if me == self.a else self.a


@dataclass(slots=True)
class NetStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0


class Network:
    def __init__(self, sched: Scheduler, rng: random.Random, cfg: NetConfig) -> None:
        self.sched = sched
        self.rng = rng
        self.cfg = cfg
        self.incarnation: dict[int, int] = {}  # present while the node is up
        self.group: dict[int, int] = {}  # partition group; absent means group 0
        self.stats = NetStats()
        self._conn_ids = 0

    # ---- topology ---------------------------------------------------------------------

    def node_up(self, node: int, incarnation: int) -> None:
        self.incarnation[node] = incarnation

    def node_down(self, node: int) -> None:
        self.incarnation.pop(node, None)

    def partition(self, groups: list[set[int]]) -> None:
        """Nodes in different groups cannot talk; nodes left out join the first group."""
        self.group = {n: i for i, g in enumerate(groups) for n in g}

    def heal(self) -> None:
        self.group = {}

    def reachable(self, a: int, b: int) -> bool:
        return (a in self.incarnation and b in self.incarnation
                and self.group.get(a, 0) == self.group.get(b, 0))

    # ---- datagrams ----------------------------------------------------------------------

    def send(self, src: int, dst: int, payload: Any, deliver: Callable[[int, Any], None]) -> None:
        self.stats.sent += 1
        if not self.reachable(src, dst) or self.rng.random() < self.cfg.drop:
            self.stats.dropped += 1
            return
        ends = (self.incarnation[src], self.incarnation[dst])
        delay = self.rng.randint(self.cfg.min_delay, self.cfg.max_delay)

        def arrive() -> None:
            # Lost if either end restarted meanwhile or a partition came between them.
            if self.reachable(src, dst) and (self.incarnation[src], self.incarnation[dst]) == ends:
                self.stats.delivered += 1
                deliver(src, payload)
            else:
                self.stats.dropped += 1

        self.sched.after(delay, arrive)

    # ---- connections ----------------------------------------------------------------------

    def connect(self, a: int, b: int) -> Conn:
        self._conn_ids += 1
        inc = (self.incarnation.get(a, -1), self.incarnation.get(b, -1))
        conn = Conn(self._conn_ids, a, b, inc)
        if not self._alive(conn):
            conn.broken = True
        return conn

    def send_on(self, conn: Conn, src: int, payload: Any, deliver: Callable[[Conn, Any], None]) -> None:
        self.stats.sent += 1
        if conn.broken or not self._alive(conn) or self.rng.random() < self.cfg.break_chance:
            conn.broken = True
            self.stats.dropped += 1
            return
        when = max(self.sched.now + self.rng.randint(self.cfg.min_delay, self.cfg.max_delay),
                   conn.arrival.get(src, 0))
        conn.arrival[src] = when

        def arrive() -> None:
            if conn.broken or not self._alive(conn):
                conn.broken = True
                self.stats.dropped += 1
                return
            self.stats.delivered += 1
            deliver(conn, payload)

        self.sched.at(when, arrive)

    def close(self, conn: Conn) -> None:
        conn.broken = True

    def _alive(self, conn: Conn) -> bool:
        return (self.reachable(conn.a, conn.b)
                and (self.incarnation[conn.a], self.incarnation[conn.b]) == conn.incarnations)
