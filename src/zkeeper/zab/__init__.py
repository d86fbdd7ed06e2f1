"""ZAB as pure state machines: leader election now; discovery, sync and broadcast next.

Nothing here touches sockets, clocks or randomness; drivers (server/, sim/) pass `now`
in and carry the returned messages out.
"""

from .election import Election, ElectionTiming, Outcome, Ready, Send
from .quorum import QuorumMaj
from .vote import Ballot, Notification, ServerState, Vote

__all__ = ["Ballot", "Election", "ElectionTiming", "Notification", "Outcome", "QuorumMaj", "Ready",
           "Send", "ServerState", "Vote"]
