"""What a program can observe about its session: the client `State` and `WatchedEvent`.

`State` is the client's own view (kazoo's CONNECTED/SUSPENDED/LOST, with LOST split
into EXPIRED and CLOSED because a program reacts differently to each). The legal moves
between states are one table, checked on every change, so a driver bug raises.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..types import EventType, KeeperState


class State(str, enum.Enum):
    CONNECTING = "CONNECTING"  # started, no session yet
    CONNECTED = "CONNECTED"  # session live on a read-write server
    READ_ONLY = "READ_ONLY"  # session live on a server that only serves reads
    SUSPENDED = "SUSPENDED"  # connection lost; the session may still be alive
    EXPIRED = "EXPIRED"  # the server said the session is gone; a new one is being made
    CLOSED = "CLOSED"  # the program closed the client (or it failed for good)

    @property
    def is_connected(self) -> bool:
        return self in (State.CONNECTED, State.READ_ONLY)


_LIVE = {State.CONNECTED, State.READ_ONLY}
_MOVES: dict[State, set[State]] = {
    # EXPIRED straight from CONNECTING when resuming a session id that is gone.
    State.CONNECTING: _LIVE | {State.EXPIRED, State.CLOSED},
    State.CONNECTED: {State.SUSPENDED, State.CLOSED},
    State.READ_ONLY: {State.SUSPENDED, State.CLOSED},
    State.SUSPENDED: _LIVE | {State.EXPIRED, State.CLOSED},
    # After expiry the client makes a fresh session (as kazoo does).
    State.EXPIRED: _LIVE | {State.SUSPENDED, State.CLOSED},
    State.CLOSED: set(),
}


def check_move(old: State, new: State) -> None:
    """Raise AssertionError if the client may not go from `old` to `new`."""
    if new not in _MOVES[old]:
        raise AssertionError(f"illegal client state change {old.name} -> {new.name}")


@dataclass(frozen=True, slots=True)
class WatchedEvent:
    """A watch fired: what happened (`type`), to which node (`path`, chroot removed).

    `state` is SYNC_CONNECTED for node events; a watch dropped because the session
    expired gets type NONE and state EXPIRED.
    """

    type: EventType
    state: KeeperState
    path: str | None
