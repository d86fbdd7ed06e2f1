"""ZnodeStat: a node's Stat with kazoo's readable aliases (seconds, owner or None)."""

from __future__ import annotations

from ..jute.records import Stat


class ZnodeStat(Stat):
    """A znode's metadata. Fields keep ZooKeeper's names; properties add kazoo's.

    It is the jute `Stat` record, so `ZnodeStat.read(reader)` decodes one directly.
    """

    __slots__ = ()

    @property
    def acl_version(self) -> int:
        return self.aversion

    @property
    def children_version(self) -> int:
        return self.cversion

    @property
    def created(self) -> float:
        """Creation time, seconds since the epoch (ctime is milliseconds)."""
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        return self.mtime / 1000.0

    @property
    def owner_session_id(self) -> int | None:
        """The owning session of an ephemeral node, else None."""
        return self.ephemeralOwner or None

    @property
    def creation_transaction_id(self) -> int:
        return self.czxid

    @property
    def last_modified_transaction_id(self) -> int:
        return self.mzxid

    @property
    def data_length(self) -> int:
        return self.dataLength

    @property
    def children_count(self) -> int:
        return self.numChildren
