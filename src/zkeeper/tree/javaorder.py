"""The iteration order of a java.util.HashSet<String>, so lists match ZooKeeper's.

ZooKeeper returns children and ephemeral paths by iterating Java HashSets; clients
see that order. A HashSet iterates bucket by bucket (bucket = spread(hashCode) masked
by the table size) and, within a bucket, in insertion order. Treeified buckets (8+
colliding names) are not modelled.
"""

from __future__ import annotations

from typing import Iterable


def java_string_hash(s: str) -> int:
    h = 0
    for unit in _utf16_units(s):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h


def _utf16_units(s: str) -> Iterable[int]:
    for ch in s:
        o = ord(ch)
        if o < 0x10000:
            yield o
        else:
            o -= 0x10000
            yield 0xD800 + (o >> 10)
            yield 0xDC00 + (o & 0x3FF)


def bucket(s: str, capacity: int) -> int:
    h = java_string_hash(s)
    return (h ^ (h >> 16)) & (capacity - 1)


def grown_capacity(capacity: int, size: int) -> int:
    """Table size after holding `size` entries (a HashMap doubles past 3/4 full)."""
    while size > capacity * 3 // 4:
        capacity *= 2
    return capacity


def _table_size_for(n: int) -> int:
    cap = 1
    while cap < n:
        cap *= 2
    return cap


def hashset_order(items_in_insertion_order: Iterable[str], capacity: int) -> list[str]:
    items = list(items_in_insertion_order)
    return sorted(items, key=lambda s: bucket(s, capacity))


class JavaHashSet:
    """A set of strings that remembers what a Java HashSet needs to iterate alike."""

    __slots__ = ("items", "capacity")

    def __init__(self, capacity: int = 16) -> None:
        self.items: dict[str, None] = {}
        self.capacity = capacity

    def add(self, s: str) -> None:
        self.items[s] = None
        self.capacity = grown_capacity(self.capacity, len(self.items))

    def discard(self, s: str) -> None:
        self.items.pop(s, None)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, s: object) -> bool:
        return s in self.items

    def order(self) -> list[str]:
        return hashset_order(self.items, self.capacity)

    def clone_order(self) -> list[str]:
        """Iteration order of `set.clone()`: re-inserted in this set's order into a
        table sized for its count."""
        cap = _table_size_for(int(len(self.items) / 0.75 + 1.0))
        return sorted(self.order(), key=lambda s: bucket(s, cap))


def java_id_hash(scheme: str, ident: str) -> int:
    """`org.apache.zookeeper.data.Id.hashCode()` as jute generates it."""
    h = 17
    for part in (scheme, ident):
        h = (37 * h + java_string_hash(part)) & 0xFFFFFFFF
    return h


def concurrent_set_order(hashes_in_insertion_order: list[int]) -> list[int]:
    """Positions in the iteration order of a ConcurrentHashMap-backed set (a
    connection's auth ids): by bucket, then insertion order; the table starts at 16
    and doubles once it holds 3/4 of its size."""
    n = len(hashes_in_insertion_order)
    cap = 16
    while n >= cap - (cap >> 2):
        cap *= 2
    keyed = [((h ^ (h >> 16)) & 0x7FFFFFFF & (cap - 1), i) for i, h in enumerate(hashes_in_insertion_order)]
    return [i for _, i in sorted(keyed)]
