"""Server counters behind srvr/stat/mntr, the admin server and Prometheus metrics."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

QUANTILES = (0.5, 0.9, 0.99)


class Summary:
    """Count, sum and quantiles over a sliding window of the latest observations."""

    __slots__ = ("count", "total", "window")

    def __init__(self, window: int = 4096) -> None:
        self.count = 0
        self.total = 0.0
        self.window: deque[float] = deque(maxlen=window)

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.window.append(value)

    def quantile(self, q: float) -> float:
        if not self.window:
            return 0.0
        ordered = sorted(self.window)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(slots=True)
class ServerStats:
    packets_received: int = 0
    packets_sent: int = 0
    latency_count: int = 0
    latency_total_ms: float = 0.0
    latency_min_ms: float = 0.0
    latency_max_ms: float = 0.0
    outstanding: int = 0
    read_latency: Summary = field(default_factory=Summary)
    update_latency: Summary = field(default_factory=Summary)
    fsync_time: Summary = field(default_factory=Summary)
    snapshot_time: Summary = field(default_factory=Summary)

    def record_latency(self, ms: float, write: bool) -> None:
        if self.latency_count == 0 or ms < self.latency_min_ms:
            self.latency_min_ms = ms
        if ms > self.latency_max_ms:
            self.latency_max_ms = ms
        self.latency_count += 1
        self.latency_total_ms += ms
        (self.update_latency if write else self.read_latency).observe(ms)

    @property
    def latency_avg_ms(self) -> float:
        return self.latency_total_ms / self.latency_count if self.latency_count else 0.0

    def reset(self) -> None:
        """`srst`: latency and packet counters back to zero."""
        self.packets_received = self.packets_sent = 0
        self.latency_count = 0
        self.latency_total_ms = self.latency_min_ms = self.latency_max_ms = 0.0
