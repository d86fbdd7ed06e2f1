"""One znode: its data, ACL, children names and the persisted part of its Stat.

dataLength, numChildren and the visible cversion are derived, as in ZooKeeper's
StatPersisted.
"""

from __future__ import annotations

from ..jute import ACL, Stat
from ..types import CONTAINER_EPHEMERAL_OWNER, ttl_of_owner
from .javaorder import grown_capacity, hashset_order


class Znode:
    __slots__ = (
        "data", "acl", "children",
        "czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
        "ephemeral_owner", "pzxid", "child_capacity",
    )

    def __init__(self, data: bytes | None, acl: list[ACL], zxid: int, time: int, ephemeral_owner: int) -> None:
        self.data = data
        self.acl = acl
        # Insertion-ordered (a dict) so listings can follow Java HashSet order.
        self.children: dict[str, None] = {}
        self.child_capacity = 0
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
        self.children[name] = None
        self.child_capacity = grown_capacity(self.child_capacity or 8, len(self.children))

    def remove_child(self, name: str) -> None:
        self.children.pop(name, None)

    def children_in_java_order(self) -> list[str]:
        return hashset_order(self.children, self.child_capacity or 8)

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
