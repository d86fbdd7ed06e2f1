"""`SyncClient`: the `Client` API, blocking, for scripts, the CLI and threads.

The asyncio client runs in an event loop on a daemon thread owned by the SyncClient;
each call submits the coroutine there and waits. Watch callbacks and state listeners
run in that thread (as kazoo's run in its handler thread), so they must not call back
into the SyncClient and wait: they would wait on themselves.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar, cast

from .client import Client
from .multi import ReadBatch, Transaction
from .states import State, WatchedEvent
from .watchers import EventStream

T = TypeVar("T")


class _Blocking:
    """A SyncClient method that runs the Client coroutine of the same name and waits."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: SyncClient | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        method = getattr(obj._client, self.name)

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            return obj._run(method(*args, **kwargs))

        return call


class SyncClient:
    """Blocking twin of `Client`: same constructor, methods and results.

    `with SyncClient("host:2181") as zk: zk.create("/a", b"x")`.
    """

    def __init__(self, hosts: str = "127.0.0.1:2181", timeout: float = 10.0, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="zkeeper-client", daemon=True)
        self._thread.start()
        self._client = Client(hosts, timeout, **kwargs)

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a SyncClient cannot be called from its own watch callbacks or listeners")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ---- lifecycle -------------------------------------------------------------

    def start(self, timeout: float | None = None) -> None:
        self._run(self._client.start(timeout))

    def close(self) -> None:
        """Close the session and stop the loop thread. Idempotent."""
        if not self._loop.is_running():
            return
        try:
            self._run(self._client.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    stop = close

    def __enter__(self) -> SyncClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- state -----------------------------------------------------------------

    state = property(lambda self: self._client.state)
    connected = property(lambda self: self._client.connected)
    client_id = property(lambda self: self._client.client_id)
    session_id = property(lambda self: self._client.session_id)
    session_timeout = property(lambda self: self._client.session_timeout)
    last_zxid = property(lambda self: self._client.last_zxid)
    server = property(lambda self: self._client.server)
    chroot = property(lambda self: self._client.chroot)

    def add_listener(self, listener: Callable[[State], Any]) -> None:
        self._client.add_listener(listener)

    def remove_listener(self, listener: Callable[[State], Any]) -> None:
        self._client.remove_listener(listener)

    def wait_for_state(self, *states: State, timeout: float | None = None) -> State:
        return self._run(self._client.wait_for_state(*states, timeout=timeout))

    # ---- operations ------------------------------------------------------------

    create = _Blocking()
    ensure_path = _Blocking()
    delete = _Blocking()
    exists = _Blocking()
    get = _Blocking()
    get_children = _Blocking()
    set = _Blocking()
    set_data = _Blocking()
    get_acls = _Blocking()
    set_acls = _Blocking()
    sync = _Blocking()
    get_ephemerals = _Blocking()
    get_all_children_number = _Blocking()
    add_auth = _Blocking()
    whoami = _Blocking()
    reconfig = _Blocking()
    add_watch = _Blocking()
    remove_watches = _Blocking()
    remove_all_watches = _Blocking()

    def transaction(self) -> SyncBatch:
        return SyncBatch(self, self._client.transaction())

    def multi_read(self) -> SyncBatch:
        return SyncBatch(self, self._client.multi_read())

    def retry(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`zk.retry(zk.get, "/a")`: the Client's retry policy around a SyncClient method."""
        target = getattr(func, "__wrapped__", None)
        if target is None or getattr(target, "__self__", None) is not self._client:
            raise TypeError("SyncClient.retry takes a method of this SyncClient")
        return cast(T, self._run(self._client.retry(target, *args, **kwargs)))

    def watch_data(self, path: str) -> SyncEventStream:
        return SyncEventStream(self, self._client.watch_data(path))

    def watch_children(self, path: str) -> SyncEventStream:
        return SyncEventStream(self, self._client.watch_children(path))

    def watch_persistent(self, path: str, recursive: bool = False) -> SyncEventStream:
        return SyncEventStream(self, self._client.watch_persistent(path, recursive))


class SyncBatch:
    """A Transaction or ReadBatch whose commit blocks; `with zk.transaction() as t:` commits."""

    def __init__(self, owner: SyncClient, batch: Transaction | ReadBatch) -> None:
        self._owner = owner
        self._batch = batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)  # create/delete/set_data/check/get/get_children

    def commit(self) -> list[Any]:
        return self._owner._run(self._batch.commit())

    def __enter__(self) -> SyncBatch:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None and not self._batch.committed:
            self.commit()


class SyncEventStream:
    """`for event in zk.watch_data(path)`; `with` sets the watch at once and removes it after."""

    def __init__(self, owner: SyncClient, stream: EventStream) -> None:
        self._owner = owner
        self._stream = stream

    def __iter__(self) -> Iterator[WatchedEvent]:
        return self

    def __next__(self) -> WatchedEvent:
        try:
            return self._owner._run(self._stream.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def next(self, timeout: float | None = None) -> WatchedEvent:
        """The next event, waiting at most `timeout` seconds (TimeoutError after)."""
        try:
            return self._owner._run(asyncio.wait_for(self._stream.__anext__(), timeout))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        self._owner._run(self._stream.aclose())

    def __enter__(self) -> SyncEventStream:
        self._owner._run(self._stream.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
