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


# The short names `cons` shows for a connection's last operation (FinalRequestProcessor).
LAST_OP_NAMES: dict[int, str] = {
    11: "PING", -10: "SESS", 14: "MULT", 22: "MLTR", 1: "CREA", 15: "CREA", 19: "CREA", 21: "CREA",
    2: "DELE", 20: "DELE", 5: "SETD", 16: "RECO", 7: "SETA", -11: "CLOS", 9: "SYNC", 13: "CHEC",
    3: "EXIS", 4: "GETD", 101: "SETW", 105: "STW2", 106: "ADDW", 6: "GETA", 8: "GETC",
    104: "GETACN", 12: "GETC", 17: "CHKW", 18: "REMW", 107: "HOMI", 103: "GETE",
}


@dataclass(slots=True)
class ConnectionStats:
    """What `cons` reports per connection."""

    last_op: str = "NA"
    last_cxid: int = -1
    last_zxid: int = -1
    last_response_ms: int = 0
    last_latency_ms: int = 0
    count: int = 0
    total_ms: int = 0
    min_ms: int = 0
    max_ms: int = 0

    def record(self, op: int, cxid: int, zxid: int, now_ms: int, latency_ms: int) -> None:
        self.last_op = LAST_OP_NAMES.get(op, "NA")
        self.last_cxid, self.last_zxid, self.last_response_ms = cxid, zxid, now_ms
        self.last_latency_ms = latency_ms
        if self.count == 0 or latency_ms < self.min_ms:
            self.min_ms = latency_ms
        self.max_ms = max(self.max_ms, latency_ms)
        self.count += 1
        self.total_ms += latency_ms

    @property
    def avg_ms(self) -> int:
        return self.total_ms // self.count if self.count else 0
