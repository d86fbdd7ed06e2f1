"""The total order of votes and ZooKeeper's vote equality (Vote.equals)."""

from __future__ import annotations

import pytest

from zkeeper.zab.vote import JAVA_LONG_MIN, Ballot, ServerState, Vote
from zkeeper.zab.zxid import counter_of, epoch_of, make_zxid

LOOKING, FOLLOWING, LEADING = ServerState.LOOKING, ServerState.FOLLOWING, ServerState.LEADING


@pytest.mark.parametrize(
    ("new", "cur", "beats"),
    [
        # (leader, zxid, peer epoch): the epoch decides first ...
        (Vote(1, make_zxid(1, 1), 2), Vote(3, make_zxid(1, 9), 1), True),
        (Vote(3, make_zxid(2, 9), 1), Vote(1, make_zxid(1, 1), 2), False),
        # ... then the zxid ...
        (Vote(1, make_zxid(1, 5), 1), Vote(3, make_zxid(1, 4), 1), True),
        (Vote(3, make_zxid(1, 4), 1), Vote(1, make_zxid(1, 5), 1), False),
        # ... then the server id.
        (Vote(3, 7, 1), Vote(2, 7, 1), True),
        (Vote(2, 7, 1), Vote(3, 7, 1), False),
        # Equal votes are not better: no endless re-broadcast of the same vote.
        (Vote(2, 7, 1), Vote(2, 7, 1), False),
        # An observer's empty vote loses to anything.
        (Vote(1, 0, 0), Vote(JAVA_LONG_MIN, JAVA_LONG_MIN, JAVA_LONG_MIN), True),
    ],
)
def test_total_order_predicate(new: Vote, cur: Vote, beats: bool) -> None:
    assert new.beats(cur) is beats


def test_order_is_strict_and_total() -> None:
    votes = [Vote(sid, z, e) for sid in (1, 2, 3) for z in (0, 5) for e in (0, 1)]
    for a in votes:
        for b in votes:
            assert (a.beats(b) + b.beats(a) + (a == b)) == 1


def test_looking_ballots_must_match_in_every_field() -> None:
    v = Vote(3, 5, 1)
    assert Ballot(v, 4).agrees(Ballot(v, 4))
    assert not Ballot(v, 4).agrees(Ballot(v, 5))  # another round
    assert not Ballot(v, 4).agrees(Ballot(Vote(3, 6, 1), 4))
    assert not Ballot(v, 4).agrees(Ballot(Vote(3, 5, 2), 4))
    # One side LOOKING is enough to demand the full match.
    assert not Ballot(v, 4, FOLLOWING, 2).agrees(Ballot(Vote(3, 6, 1), 4))


def test_settled_ballots_compare_leader_and_epoch_only() -> None:
    # Zxid and round go stale once servers sync (ZOOKEEPER-1805) ...
    assert Ballot(Vote(3, 5, 1), 4, FOLLOWING, 2).agrees(Ballot(Vote(3, 9, 1), 7, LEADING, 2))
    assert not Ballot(Vote(3, 5, 1), 4, FOLLOWING, 2).agrees(Ballot(Vote(3, 5, 2), 4, LEADING, 2))
    # ... and mixed formats compare the leader only (ZOOKEEPER-1732).
    assert Ballot(Vote(3, 5, 1), 4, FOLLOWING, 0).agrees(Ballot(Vote(3, 5, 2), 4, LEADING, 2))
    assert not Ballot(Vote(3, 5, 1), 4, FOLLOWING, 0).agrees(Ballot(Vote(2, 5, 1), 4, LEADING, 2))


def test_zxid_halves() -> None:
    z = make_zxid(7, 0xFFFFFFFF)
    assert (epoch_of(z), counter_of(z)) == (7, 0xFFFFFFFF)
    assert make_zxid(2, 0) > make_zxid(1, 0xFFFFFFFF)
