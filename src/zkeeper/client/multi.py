"""Builders for multi requests: `Transaction` (all or nothing) and `ReadBatch` (multiRead).

Both collect ops and send them as one request at `commit()`. Results come back one per
op, kazoo's way: a failed op's entry is its exception instance, not a raise, so a
program can see which op broke a transaction (the others read RolledBackError or
RuntimeInconsistency).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..jute.records import ACL
from .ops import Check, Delete, GetChildren, GetData, Multi, Op, SetData, failure_of

if TYPE_CHECKING:
    from .client import Client


class _Batch:
    def __init__(self, client: Client, read: bool) -> None:
        self._client = client
        self._read = read
        self._ops: list[Op[Any]] = []
        self.committed = False
        self.results: list[Any] | None = None  # set by commit()

    def _add(self, op: Op[Any]) -> None:
        if self.committed:
            raise ValueError("already committed")
        self._ops.append(op)

    def _server_path(self, path: str) -> str:
        return self._client._server_path(path)

    async def commit(self) -> list[Any]:
        if self.committed:
            raise ValueError("already committed")
        self.committed = True
        results = await self._client._run(Multi(tuple(self._ops), read=self._read))
        self.results = [_simplify(op, r) for op, r in zip(self._ops, results)]
        return self.results

    def __len__(self) -> int:
        return len(self._ops)


def _simplify(op: Op[Any], result: Any) -> Any:
    """kazoo's result shapes: a create gives its path, a read of children the names."""
    if isinstance(result, BaseException):
        return result
    if isinstance(op, GetChildren):
        return result[0]
    if isinstance(result, tuple) and not isinstance(op, GetData):
        return result[0]  # (path, stat) of a create
    return result


class Transaction(_Batch):
    """Ops applied atomically: `t = client.transaction(); t.create(...); await t.commit()`,
    or `async with client.transaction() as t:` which commits on a clean exit."""

    def __init__(self, client: Client) -> None:
        super().__init__(client, read=False)

    def create(self, path: str, value: bytes = b"", acl: Sequence[ACL] | None = None,
               ephemeral: bool = False, sequence: bool = False, *, container: bool = False,
               ttl: int = 0) -> None:
        self._add(self._client._create_op(path, value, acl, ephemeral, sequence, container, ttl,
                                          with_stat=False))

    def delete(self, path: str, version: int = -1) -> None:
        self._add(Delete(self._server_path(path), version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        self._add(SetData(self._server_path(path), value, version))

    def check(self, path: str, version: int) -> None:
        self._add(Check(self._server_path(path), version))

    async def commit(self, *, check: bool = False) -> list[Any]:
        """Send the ops; one result per op. With `check`, raise the error of the op
        that made the transaction fail instead of returning it in the list."""
        results = await super().commit()
        failure = failure_of(results) if check else None
        if failure is not None:
            raise failure
        return results

    async def __aenter__(self) -> Transaction:
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None and not self.committed:
            await self.commit()


class ReadBatch(_Batch):
    """Reads answered together from one consistent view (multiRead, ZooKeeper 3.6+).

    Each entry is `(data, stat)` for `get`, a list of names for `get_children`, or the
    exception that read failed with; one failing read does not affect the others.
    """

    def __init__(self, client: Client) -> None:
        super().__init__(client, read=True)

    def get(self, path: str) -> None:
        self._add(GetData(self._server_path(path)))

    def get_children(self, path: str) -> None:
        self._add(GetChildren(self._server_path(path), with_stat=False))
