"""Leader election on top of `Lock` (kazoo's Election, with take-over made explicit).

`await election.run(lead)` waits to be elected, runs `lead()` as leader, and gives
leadership up when it returns. If the session expires meanwhile, leadership is gone
(the next candidate now leads): `lead()` is cancelled and this candidate rejoins the
election at the back, running `lead()` again if elected again.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from ..client import Client, State
from .lock import Lock

_LOST = object()


class Election:
    def __init__(self, client: Client, path: str, identifier: str = "") -> None:
        self.client = client
        self.path = path
        self.lock = Lock(client, path, identifier)

    @property
    def is_leader(self) -> bool:
        return self.lock.is_acquired

    async def run(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Lead with `func(*args, **kwargs)` (a function or coroutine function); its result."""
        while True:
            await self.lock.acquire()
            try:
                outcome = await self._lead(func, args, kwargs)
            finally:
                await asyncio.shield(self._step_down())
            if outcome is not _LOST:
                return outcome

    async def _step_down(self) -> None:
        try:
            await self.lock.release()
        except Exception:
            pass  # our node goes with the session anyway

    async def _lead(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        lost = asyncio.Event()

        def on_state(state: State) -> None:
            if state is State.EXPIRED:
                lost.set()

        self.client.add_listener(on_state)
        leading = asyncio.ensure_future(_call(func, args, kwargs))
        watching = asyncio.ensure_future(lost.wait())
        try:
            if not self.lock.is_acquired:  # expired between winning and here
                lost.set()
            await asyncio.wait({leading, watching}, return_when=asyncio.FIRST_COMPLETED)
            if leading.done():
                return leading.result()
            return _LOST
        finally:
            self.client.remove_listener(on_state)
            for task in (leading, watching):
                task.cancel()
            await asyncio.gather(leading, watching, return_exceptions=True)

    async def contenders(self) -> list[str]:
        """Identifiers of the leader and the candidates, leader first."""
        return await self.lock.contenders()


async def _call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = func(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
