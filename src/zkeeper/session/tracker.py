"""The session tracker: live sessions and their expiry in tick-sized buckets.

As ZooKeeper's ExpiryQueue, a session's deadline is rounded up to the next tick
boundary, so one check per tick expires whole buckets instead of one timer per
session. Every method takes `now_ms`; nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Code, KeeperError
from .ids import initial_session_id, session_password


@dataclass(slots=True)
class Session:
    id: int
    timeout: int
    password: bytes
    expire_at: int = 0
    closing: bool = False


class SessionTracker:
    def __init__(self, tick_ms: int, server_id: int, now_ms: int, id_clock_ms: int | None = None) -> None:
        """`id_clock_ms` seeds session ids (default `now_ms`); a wall clock keeps ids
        unique across restarts."""
        self.tick_ms = tick_ms
        self.sessions: dict[int, Session] = {}
        self._buckets: dict[int, set[int]] = {}
        self._next_expiry = self._round(now_ms)
        self._next_id = initial_session_id(now_ms if id_clock_ms is None else id_clock_ms, server_id)

    def _round(self, t: int) -> int:
        return (t // self.tick_ms + 1) * self.tick_ms

    def new_session_id(self) -> int:
        sid = self._next_id
        self._next_id += 1
        return sid

    def password(self, session_id: int) -> bytes:
        return session_password(session_id)

    def add(self, session_id: int, timeout: int, now_ms: int) -> Session:
        s = self.sessions.get(session_id)
        if s is None:
            s = Session(session_id, timeout, session_password(session_id))
            self.sessions[session_id] = s
        s.timeout = timeout
        self._schedule(s, now_ms)
        return s

    def _schedule(self, s: Session, now_ms: int) -> None:
        at = self._round(now_ms + s.timeout)
        if at == s.expire_at:
            return
        if s.expire_at:
            bucket = self._buckets.get(s.expire_at)
            if bucket is not None:
                bucket.discard(s.id)
                if not bucket:
                    del self._buckets[s.expire_at]
        s.expire_at = at
        self._buckets.setdefault(at, set()).add(s.id)

    def touch(self, session_id: int, now_ms: int) -> bool:
        """Push back the session's expiry; False if it is gone or closing."""
        s = self.sessions.get(session_id)
        if s is None or s.closing:
            return False
        self._schedule(s, now_ms)
        return True

    def check(self, session_id: int) -> None:
        s = self.sessions.get(session_id)
        if s is None or s.closing:
            raise KeeperError(Code.SESSIONEXPIRED)

    def is_live(self, session_id: int) -> bool:
        s = self.sessions.get(session_id)
        return s is not None and not s.closing

    def set_closing(self, session_id: int) -> None:
        s = self.sessions.get(session_id)
        if s is not None:
            s.closing = True

    def remove(self, session_id: int) -> None:
        s = self.sessions.pop(session_id, None)
        if s is not None and s.expire_at:
            bucket = self._buckets.get(s.expire_at)
            if bucket is not None:
                bucket.discard(session_id)
                if not bucket:
                    del self._buckets[s.expire_at]

    def next_expiry_ms(self) -> int:
        return self._next_expiry

    def expire(self, now_ms: int) -> list[Session]:
        """Sessions whose bucket has passed; they are marked closing (not removed)."""
        out: list[Session] = []
        while now_ms >= self._next_expiry:
            for sid in sorted(self._buckets.pop(self._next_expiry, ())):
                s = self.sessions.get(sid)
                if s is not None and not s.closing:
                    s.closing = True
                    out.append(s)
            self._next_expiry += self.tick_ms
        return out
