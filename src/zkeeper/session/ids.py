"""Session ids and passwords computed as Apache ZooKeeper computes them.

id: the elapsed-time clock in milliseconds shifted into bits 8..55, the server id in
the top byte. password: 16 bytes from java.util.Random seeded with id ^ 0xB3415C00,
so a session's password is a function of its id and a restarted server can check it.
"""

from __future__ import annotations

from ..types import CONTAINER_EPHEMERAL_OWNER, to_signed64

_SUPER_SECRET = 0xB3415C00
_MULTIPLIER = 0x5DEECE66D
_MASK48 = (1 << 48) - 1


def initial_session_id(now_ms: int, server_id: int) -> int:
    sid = ((now_ms << 24) & 0xFFFFFFFFFFFFFFFF) >> 8
    sid |= (server_id & 0xFF) << 56
    sid = to_signed64(sid)
    if sid == CONTAINER_EPHEMERAL_OWNER:
        sid += 1
    return sid


def session_password(session_id: int) -> bytes:
    """`new Random(id ^ superSecret).nextBytes(new byte[16])`."""
    seed = ((session_id ^ _SUPER_SECRET) ^ _MULTIPLIER) & _MASK48
    out = bytearray()
    while len(out) < 16:
        seed = (seed * _MULTIPLIER + 0xB) & _MASK48
        rnd = seed >> 16  # next(32), as an unsigned 32-bit value
        for _ in range(min(4, 16 - len(out))):
            out.append(rnd & 0xFF)
            rnd >>= 8
    return bytes(out)
