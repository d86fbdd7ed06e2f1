"""Session ids, passwords and bucketed expiry."""

from __future__ import annotations

import pytest

from zkeeper.errors import KeeperError
from zkeeper.session.ids import initial_session_id, session_password
from zkeeper.session.tracker import SessionTracker


def test_password_matches_apache_zookeepers_for_the_same_id():
    # Observed from Apache ZooKeeper 3.8: session 0x10000001f07b0001's password.
    assert session_password(72057602367553537) == b"Y#\xdf(\xfbX\x89\x07\x89\x80\xb3\xb7p\x01\xf0\xba"


def test_session_id_carries_the_server_id_in_the_top_byte():
    sid = initial_session_id(1_700_000_000_000, 1)
    assert sid >> 56 == 1
    assert initial_session_id(1_700_000_000_000, 1) != initial_session_id(1_700_000_000_001, 1)


def test_expiry_is_rounded_to_the_next_tick_and_touch_postpones_it():
    t = SessionTracker(tick_ms=100, server_id=1, now_ms=0)
    a = t.add(t.new_session_id(), 250, now_ms=0)
    b = t.add(t.new_session_id(), 250, now_ms=0)
    assert a.expire_at == 300
    assert t.expire(299) == []
    t.touch(b.id, now_ms=150)  # 150 + 250 = 400, rounded up to the next tick: 500
    assert [s.id for s in t.expire(300)] == [a.id]
    with pytest.raises(KeeperError):
        t.check(a.id)
    t.check(b.id)
    assert t.expire(499) == []
    assert [s.id for s in t.expire(500)] == [b.id]


def test_closing_session_cannot_be_touched():
    t = SessionTracker(tick_ms=100, server_id=1, now_ms=0)
    s = t.add(t.new_session_id(), 1000, now_ms=0)
    t.set_closing(s.id)
    assert not t.touch(s.id, 10)
    t.remove(s.id)
    assert not t.is_live(s.id)
