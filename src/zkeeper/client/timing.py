"""The client's clocks, as pure arithmetic on a `now` the driver passes in.

ZooKeeper's client rules (ClientCnxn): with a negotiated session timeout `s`, ping
after s/3 without sending anything, and give a server up after 2s/3 without hearing
from it, leaving s/3 to reach another server before the session can expire. A
connect attempt gets s / (number of hosts), so one round of hosts fits in `s`, but
never more than s/3: with one or two hosts, a server that accepts and then stays
silent must not use up the whole session before we try again.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the random source is passed in, never made here
    from random import Random


class Due(enum.Enum):
    NOTHING = "nothing"
    PING = "ping"
    DEAD = "dead"  # the server has been silent too long: move to another one


class Heartbeat:
    def __init__(self, session_timeout: float, now: float) -> None:
        self.read_timeout = session_timeout * 2 / 3
        self.ping_interval = session_timeout / 3
        self.last_sent = now
        self.last_received = now

    def sent(self, now: float) -> None:
        self.last_sent = now

    def received(self, now: float) -> None:
        self.last_received = now

    def due(self, now: float) -> Due:
        if now - self.last_received >= self.read_timeout:
            return Due.DEAD
        if now - self.last_sent >= self.ping_interval:
            return Due.PING
        return Due.NOTHING

    def next_deadline(self) -> float:
        """When `due` may next answer something other than NOTHING."""
        return min(self.last_sent + self.ping_interval, self.last_received + self.read_timeout)


def connect_timeout(session_timeout: float, host_count: int) -> float:
    return session_timeout / max(host_count, 3)


class ReconnectDelay:
    """How long to wait before the next connection attempt.

    Every host is tried once without waiting; after each full round of failures the
    wait doubles (with jitter, so clients cut off together do not come back together)
    up to `maximum`. A connection that works resets it.
    """

    def __init__(self, rng: Random, host_count: int, initial: float = 0.1, maximum: float = 2.0) -> None:
        self._rng = rng
        self._hosts = max(host_count, 1)
        self._initial = initial
        self._maximum = maximum
        self._failures = 0

    def reset(self) -> None:
        self._failures = 0

    def after_failure(self) -> float:
        """Seconds to sleep before the next attempt."""
        self._failures += 1
        if self._failures % self._hosts:
            return 0.0
        rounds = self._failures // self._hosts
        base = min(self._initial * 2.0 ** (rounds - 1), self._maximum)
        return base * (0.5 + self._rng.random() / 2)
