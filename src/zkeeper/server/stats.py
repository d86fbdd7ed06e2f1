"""Server counters behind srvr/stat/mntr and metrics: packets, latency, requests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ServerStats:
    packets_received: int = 0
    packets_sent: int = 0
    latency_count: int = 0
    latency_total_ms: float = 0.0
    latency_min_ms: float = 0.0
    latency_max_ms: float = 0.0
    outstanding: int = 0

    def record_latency(self, ms: float) -> None:
        if self.latency_count == 0 or ms < self.latency_min_ms:
            self.latency_min_ms = ms
        if ms > self.latency_max_ms:
            self.latency_max_ms = ms
        self.latency_count += 1
        self.latency_total_ms += ms

    @property
    def latency_avg_ms(self) -> float:
        return self.latency_total_ms / self.latency_count if self.latency_count else 0.0

    def reset(self) -> None:
        """`srst`: latency and packet counters back to zero."""
        self.packets_received = self.packets_sent = 0
        self.latency_count = 0
        self.latency_total_ms = self.latency_min_ms = self.latency_max_ms = 0.0
