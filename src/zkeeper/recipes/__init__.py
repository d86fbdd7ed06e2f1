"""Coordination recipes on `zkeeper.client.Client`, with kazoo's names and shapes, async.

Locks (`Lock`, `ReadLock`, `WriteLock`, `ReadWriteLock`, `Semaphore`), `Counter`,
`Election`, membership (`Party`, `ShallowParty`, `GroupMembership`), `Barrier` and
`DoubleBarrier`, queues (`Queue`, `PriorityQueue`, `LockingQueue`), watch helpers
(`DataWatch`, `ChildrenWatch`, `ConfigWatch`) and `TreeCache`. Each one keeps its
promise across lost connections and says in its docstring what a session expiry does.
"""

from .barrier import Barrier, DoubleBarrier
from .cache import NodeData, TreeCache, TreeEvent, TreeEventType
from .config import ConfigVersion, ConfigWatch
from .counter import Counter
from .election import Election
from .lock import Lock, ReadLock, ReadWriteLock, WriteLock
from .party import GroupMembership, Party, ShallowParty
from .queue import LockingQueue, PriorityQueue, Queue
from .semaphore import Semaphore
from .watchers import ChildrenWatch, DataWatch

__all__ = [
    "Barrier", "ChildrenWatch", "ConfigVersion", "ConfigWatch", "Counter", "DataWatch",
    "DoubleBarrier", "Election", "GroupMembership", "Lock", "LockingQueue", "NodeData", "Party",
    "PriorityQueue", "Queue", "ReadLock", "ReadWriteLock", "Semaphore", "ShallowParty",
    "TreeCache", "TreeEvent", "TreeEventType", "WriteLock",
]
