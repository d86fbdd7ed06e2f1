"""zab.Election's API and the properties golden traces cannot cover one by one."""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkeeper.zab.election import Election, ElectionTiming, Outcome
from zkeeper.zab.quorum import QuorumMaj
from zkeeper.zab.vote import Notification, ServerState, Vote
from zkeeper.zab.zxid import make_zxid

LOOKING, FOLLOWING, LEADING = ServerState.LOOKING, ServerState.FOLLOWING, ServerState.LEADING


def run_to_decision(elections: dict[int, Election], rng: random.Random, start: int = 0) -> dict[int, Outcome]:
    """No loss; messages on each link in order, links interleaved at random; time moves
    only when nothing is in flight (so a finalize wait never races a message)."""
    links: dict[tuple[int, int], deque[Notification]] = {}
    outcomes: dict[int, Outcome] = {}
    now = start

    def absorb(sid: int, ready: object) -> None:
        for m in ready.messages:  # type: ignore[attr-defined]
            links.setdefault((sid, m.to), deque()).append(m.notification)
        if ready.outcome is not None:  # type: ignore[attr-defined]
            assert sid not in outcomes, "an outcome is reported once"
            outcomes[sid] = ready.outcome  # type: ignore[attr-defined]

    for sid, e in elections.items():
        absorb(sid, e.start(now))
    for _ in range(10_000):
        busy = [k for k, q in links.items() if q]
        if busy:
            src, dst = rng.choice(busy)
            n = links[(src, dst)].popleft()
            if dst in elections:
                absorb(dst, elections[dst].step(src, n, now))
            continue
        wakes = [e.wake_at for e in elections.values() if e.wake_at is not None]
        if not wakes:
            return outcomes
        now = max(now, min(wakes))
        for sid, e in elections.items():
            absorb(sid, e.tick(now))
    raise AssertionError("no decision after 10000 steps")


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=7),
    observers=st.integers(0, 2),
    seed=st.integers(0, 2**32),
)
def test_without_loss_everyone_elects_the_most_recent_server(
    data: list[tuple[int, int]], observers: int, seed: int
) -> None:
    voters = range(1, len(data) + 1)
    q = QuorumMaj.of(voters, range(len(data) + 1, len(data) + 1 + observers))
    elections = {
        sid: Election(sid, q, last_zxid=make_zxid(*data[sid - 1]) if sid in voters else 0,
                      current_epoch=data[sid - 1][0] if sid in voters else 0)
        for sid in q.members
    }
    outcomes = run_to_decision(elections, random.Random(seed))
    best = max((Vote(sid, make_zxid(*data[sid - 1]), data[sid - 1][0]) for sid in voters), key=lambda v: v.key)
    assert set(outcomes) == set(q.members)
    for sid, o in outcomes.items():
        assert o.vote == best
        expected = LEADING if sid == best.leader else FOLLOWING if sid in voters else ServerState.OBSERVING
        assert o.state == expected == elections[sid].state
        assert q.contains_quorum(o.supporters)


def test_one_voter_elects_itself_after_the_finalize_wait() -> None:
    e = Election(1, QuorumMaj.of([1]), last_zxid=0, current_epoch=0)
    r = e.start(1000)
    assert r.messages == () and r.outcome is None and r.wake_at == 1200
    assert e.tick(1199).outcome is None
    o = e.tick(1200).outcome
    assert o == Outcome(LEADING, 1, 0, 1, 0, frozenset({1}), False)
    assert e.tick(5000).outcome is None  # reported once
    assert e.wake_at is None


def test_settled_server_answers_only_looking_peers() -> None:
    e = Election(1, QuorumMaj.of([1, 2, 3]), last_zxid=5, current_epoch=1)
    e.start(0)
    e.step(2, Notification(LOOKING, 1, 5, 1, 1), 1)
    e.tick(201)
    assert e.state == LEADING
    r = e.step(3, Notification(LOOKING, 3, 0, 9, 0), 300)
    assert [(m.to, m.notification.state, m.notification.vote, m.notification.election_epoch) for m in r.messages] \
        == [(3, LEADING, Vote(1, 5, 1), 1)]
    assert e.step(3, Notification(FOLLOWING, 1, 5, 1, 1), 301).messages == ()


def test_update_peer_epoch_changes_what_we_report() -> None:
    e = Election(1, QuorumMaj.of([1, 2, 3]), last_zxid=0, current_epoch=0)
    with pytest.raises(AssertionError):
        e.update_peer_epoch(1)  # still looking
    e.start(0)
    e.step(2, Notification(LOOKING, 2, 0, 1, 0), 1)
    e.tick(201)
    assert e.state == FOLLOWING
    e.update_peer_epoch(4)
    (m,) = e.step(3, Notification(LOOKING, 3, 0, 1, 0), 300).messages
    assert (m.notification.state, m.notification.leader, m.notification.peer_epoch) == (FOLLOWING, 2, 4)


def test_start_again_takes_the_new_data_and_a_new_round() -> None:
    e = Election(1, QuorumMaj.of([1, 2, 3]), last_zxid=0, current_epoch=0)
    e.start(0)
    r = e.start(500, last_zxid=make_zxid(3, 2), current_epoch=3)
    assert e.logical_clock == 2 and e.state == LOOKING
    assert {m.notification.vote for m in r.messages} == {Vote(1, make_zxid(3, 2), 3)}


def test_servers_without_data_take_no_part() -> None:
    # A zxid of -1 means the database is not loaded (FastLeaderElection ignores such votes).
    e = Election(1, QuorumMaj.of([1, 2, 3]), last_zxid=0, current_epoch=0)
    e.start(0)
    assert e.step(2, Notification(LOOKING, 2, -1, 1, 0), 1).messages == ()
    assert e.proposal == Vote(1, 0, 0)


def test_votes_for_non_voters_are_ignored() -> None:
    e = Election(1, QuorumMaj.of([1, 2, 3], [4]), last_zxid=0, current_epoch=0)
    e.start(0)
    e.step(2, Notification(LOOKING, 4, 99, 1, 9), 1)
    assert e.proposal == Vote(1, 0, 0)


def test_observers_answer_settled_votes_and_are_never_counted() -> None:
    q = QuorumMaj.of([1, 2, 3], [4])
    e = Election(1, q, last_zxid=0, current_epoch=0)
    e.start(0)
    (m,) = e.step(4, Notification(LOOKING, 1, 0, 1, 0), 1).messages
    assert m.to == 4 and m.notification.vote == e.current_vote
    e.step(2, Notification(LOOKING, 1, 0, 1, 0), 2)
    e.tick(202)
    assert e.outcome is not None and 4 not in e.outcome.supporters


def test_steps_before_start_are_ignored_and_membership_is_checked() -> None:
    e = Election(1, QuorumMaj.of([1, 2, 3]), last_zxid=0, current_epoch=0)
    assert e.step(2, Notification(LOOKING, 2, 0, 1, 0), 0).messages == ()
    with pytest.raises(ValueError):
        Election(9, QuorumMaj.of([1, 2, 3]), last_zxid=0, current_epoch=0)


def test_timing_is_configurable() -> None:
    t = ElectionTiming(finalize_wait=50, min_notification_interval=10, max_notification_interval=30)
    e = Election(1, QuorumMaj.of([1, 2, 3]), last_zxid=0, current_epoch=0, timing=t)
    assert e.start(0).wake_at == 10
    resends = []
    now = 0
    for _ in range(5):
        now = e.wake_at  # type: ignore[assignment]
        e.tick(now)
        resends.append(now)
    assert resends == [10, 30, 60, 90, 120]  # 10, then 20, then capped at 30
