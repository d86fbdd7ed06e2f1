"""Virtual time: a heap of (time, sequence, callback) run in order, never a real clock.

Ties break by insertion order, so a run depends only on the seed. The event budget
bounds every run: a livelock shows up as an error instead of a hung test.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable


class BudgetExceeded(RuntimeError):
    """The run scheduled more events than allowed: likely a message storm or livelock."""


class Scheduler:
    def __init__(self, max_events: int) -> None:
        self.now = 0
        self.events_run = 0
        self.max_events = max_events
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0

    def at(self, when: int, fn: Callable[[], None]) -> None:
        assert when >= self.now, f"cannot schedule in the past: {when} < {self.now}"
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, fn))

    def after(self, delay: int, fn: Callable[[], None]) -> None:
        self.at(self.now + delay, fn)

    def run_until(self, until: int, stop: Callable[[], bool] | None = None) -> None:
        """Run every event due up to `until` (or until `stop()` holds), then set the clock there."""
        while self._heap and self._heap[0][0] <= until:
            when, _, fn = heapq.heappop(self._heap)
            self.now = when
            self.events_run += 1
            if self.events_run > self.max_events:
                raise BudgetExceeded(f"more than {self.max_events} events by t={when}ms")
            fn()
            if stop is not None and stop():
                return
        self.now = max(self.now, until)
