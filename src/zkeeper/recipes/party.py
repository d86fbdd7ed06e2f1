"""Group membership: `Party` and `ShallowParty` (kazoo's), `GroupMembership` for Party.

Each member is an ephemeral node under the party path, so a member that dies leaves.
A member whose session expires joins again by itself once the client has a new
session (the old node went with the old session). `watch()` hands out the member
list each time it changes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from ..client import Client, ConnectionClosedError, NodeExistsError, NoNodeError, State
from ..paths import join
from ._util import Trigger, data_of_children

log = logging.getLogger("zkeeper.recipes.party")


class _BaseParty:
    def __init__(self, client: Client, path: str, identifier: str = "") -> None:
        self.client = client
        self.path = path
        self.identifier = identifier
        self.node = self._node_name()
        self.participating = False
        self._expired = False
        self._rejoin: asyncio.Task[Any] | None = None

    def _node_name(self) -> str:
        raise NotImplementedError

    def _data(self) -> bytes:
        return b""

    async def join(self) -> None:
        """Become a member (idempotent)."""
        try:
            await self.client.retry(self.client.create, join(self.path, self.node), self._data(),
                                    ephemeral=True, makepath=True)
        except NodeExistsError:
            pass
        if not self.participating:
            self.participating = True
            self.client.add_listener(self._follow_session)

    async def leave(self) -> None:
        if self.participating:
            self.participating = False
            self.client.remove_listener(self._follow_session)
        try:
            await self.client.retry(self.client.delete, join(self.path, self.node))
        except NoNodeError:
            pass

    def _follow_session(self, state: State) -> None:
        if state is State.EXPIRED:
            self._expired = True
        elif state.is_connected and self._expired and self.participating:
            self._expired = False
            self._rejoin = asyncio.ensure_future(self._join_again())

    async def _join_again(self) -> None:
        try:
            await self.join()
        except ConnectionClosedError:
            pass  # the program closed the client meanwhile
        except Exception:
            log.exception("party %s: could not join again after the session expired", self.path)

    async def _children(self, watch: Trigger | None = None) -> list[str]:
        try:
            children: list[str] = await self.client.retry(self.client.get_children, self.path, watch=watch)
            return children
        except NoNodeError:
            return []

    async def count(self) -> int:
        return len(await self._children())

    async def members(self) -> list[str]:
        raise NotImplementedError

    async def watch(self) -> AsyncIterator[list[str]]:
        """The members now, then again after every change."""
        await self.client.ensure_path(self.path)
        while True:
            trigger = Trigger()
            await self._children(watch=trigger)
            yield await self.members()
            await trigger.wait()


class Party(_BaseParty):
    """Members are `<guid>__party__` nodes holding the identifier."""

    def _node_name(self) -> str:
        return uuid.uuid4().hex + "__party__"

    def _data(self) -> bytes:
        return self.identifier.encode()

    async def members(self) -> list[str]:
        return await data_of_children(self.client, self.path, sorted(await self._children()))


class ShallowParty(_BaseParty):
    """Members are `<identifier>-<guid>` nodes: one request lists them all."""

    def _node_name(self) -> str:
        return f"{self.identifier}-{uuid.uuid4().hex}"

    async def members(self) -> list[str]:
        return sorted(child.rsplit("-", 1)[0] for child in await self._children())


GroupMembership = Party
