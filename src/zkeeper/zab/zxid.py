"""Zxids: a 64-bit transaction id whose high 32 bits are the leader epoch (ZxidUtils).

Comparing zxids as signed longs orders transactions by epoch, then by counter.
"""

from __future__ import annotations

_COUNTER_MASK = 0xFFFFFFFF


def make_zxid(epoch: int, counter: int) -> int:
    assert 0 <= counter <= _COUNTER_MASK, counter
    return (epoch << 32) | counter


def epoch_of(zxid: int) -> int:
    return zxid >> 32


def counter_of(zxid: int) -> int:
    return zxid & _COUNTER_MASK
