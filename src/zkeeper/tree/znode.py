"""One znode: its data, ACL, children names and the persisted part of its Stat.

dataLength, numChildren and the visible cversion are derived, as in ZooKeeper's
StatPersisted.
"""

from __future__ import annotations

from ..jute import ACL, Stat, Writer
from ..types import CONTAINER_EPHEMERAL_OWNER, ttl_of_owner
from .javaorder import grown_capacity, hashset_order


class _EncodedOrder(list):  # type: ignore[type-arg]
    """The listing order together with its wire encoding (one cache slot for both)."""

    __slots__ = ("wire",)

    def __init__(self, names: list[str], wire: bytes) -> None:
        super().__init__(names)
        self.wire = wire


# Shared by every childless znode; only add_child replaces it, nothing writes into it.
_NO_CHILDREN: dict[str, None] = {}
_new = object.__new__


class Znode:
    __slots__ = (
        "data", "acl", "children",
        "czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
        "ephemeral_owner", "pzxid", "child_capacity", "_order",
    )

    def __init__(self, data: bytes | None, acl: list[ACL], zxid: int, time: int, ephemeral_owner: int) -> None:
        self.data = data
        self.acl = acl
        # Insertion-ordered (a dict) so listings can follow Java HashSet order. Leaves
        # (most znodes) share one empty dict until they get a child.
        self.children: dict[str, None] = _NO_CHILDREN
        self.child_capacity = 0
        self._order: list[str] | None = None  # cached listing order, until children change
        self.czxid = zxid
        self.mzxid = zxid
        self.ctime = time
        self.mtime = time
        self.version = 0
        self.cversion = 0
        self.aversion = 0
        self.ephemeral_owner = ephemeral_owner
        self.pzxid = zxid

    def add_child(self, name: str) -> None:
        if self.children is _NO_CHILDREN:
            self.children = {}
        self.children[name] = None
        self.child_capacity = grown_capacity(self.child_capacity or 8, len(self.children))
        self._order = None

    def set_children(self, names: dict[str, None]) -> None:
        """Make `names` (kept, not copied) the children of this childless znode: the state
        that add_child for each name in the dict's order would leave."""
        if names:
            self.children = names
            self.child_capacity = grown_capacity(8, len(names))
            self._order = None

    def remove_child(self, name: str) -> None:
        self.children.pop(name, None)
        self._order = None

    def children_in_java_order(self) -> list[str]:
        """A fresh list (callers may keep it) in Java HashSet order, computed once per change."""
        if self._order is None:
            self._order = hashset_order(self.children, self.child_capacity or 8)
        return list(self._order)

    def children_wire(self) -> bytes:
        """The children as a jute vector<ustring>, ready to send; cached like the order,
        since listing a big parent is read far more often than it changes."""
        if self._order is None:
            self._order = hashset_order(self.children, self.child_capacity or 8)
        order = self._order
        if not isinstance(order, _EncodedOrder):
            w = Writer()
            w.int(len(order))
            for name in order:
                w.ustring(name)
            order = self._order = _EncodedOrder(order, w.getvalue())
        return order.wire

    def stat(self) -> Stat:
        n = len(self.children)
        # `cversion` counts child creations; clients see changes (creates + deletes),
        # which is 2*creates - children still present (ZooKeeper's DataNode.copyStat).
        owner = self.ephemeral_owner
        # Container and TTL markers are internal: clients see 0 (DataNode.copyStat).
        if owner == CONTAINER_EPHEMERAL_OWNER or ttl_of_owner(owner) is not None:
            owner = 0
        return Stat(
            self.czxid, self.mzxid, self.ctime, self.mtime, self.version, self.cversion * 2 - n,
            self.aversion, owner, len(self.data) if self.data else 0, n, self.pzxid,
        )


def restored_znode(data: bytes | None, acl: list[ACL], czxid: int, mzxid: int, ctime: int, mtime: int,
                   version: int, cversion: int, aversion: int, ephemeral_owner: int, pzxid: int) -> Znode:
    """A childless znode with every persisted field given (a snapshot's DataNode), each set
    once rather than defaulted by __init__ and then overwritten: loading a snapshot makes
    millions of these. The caller links children (`set_children` or `add_child`)."""
    node = _new(Znode)
    node.data = data
    node.acl = acl
    node.children = _NO_CHILDREN
    node.child_capacity = 0
    node._order = None
    node.czxid = czxid
    node.mzxid = mzxid
    node.ctime = ctime
    node.mtime = mtime
    node.version = version
    node.cversion = cversion
    node.aversion = aversion
    node.ephemeral_owner = ephemeral_owner
    node.pzxid = pzxid
    return node
