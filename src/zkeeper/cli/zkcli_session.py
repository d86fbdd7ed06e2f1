"""zkCli's connection: one `Client` on an event loop thread, narrated as zkCli.sh does.

The shell's thread reads lines; commands run as coroutines on the loop thread, where
watch events and state changes are printed as they happen (`WATCHER::` blocks). A
request made while the session is between connections waits for it as long as the
Java client would (one connect timeout), and fails at once with ConnectionLoss when
no server even accepts a TCP connection. After expiry the session is closed, as
ZooKeeper's client does: `connect` starts a new one.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TextIO, TypeVar

from ..client import AuthFailedError, Client, ConnectionLoss, State, WatchedEvent
from ..client.codec import get
from ..client.hosts import Chroot, parse_connect_string
from ..client.ops import Create, GetData
from ..client.stat import ZnodeStat
from ..client.watches import WatchKind
from ..jute.io import Reader
from ..jute.records import ACL
from ..types import CreateMode, EventType, KeeperState
from .zkcli_format import watcher_message

T = TypeVar("T")

# Java's ZooKeeper.States as the prompt shows them.
PROMPT_STATES = {
    State.CONNECTING: "CONNECTING",
    State.CONNECTED: "CONNECTED",
    State.READ_ONLY: "CONNECTEDREADONLY",
    State.SUSPENDED: "CONNECTING",
    State.EXPIRED: "CLOSED",
    State.CLOSED: "CLOSED",
}
_REMOVED_EVENTS = frozenset({EventType.DATA_WATCH_REMOVED, EventType.CHILD_WATCH_REMOVED,
                             EventType.PERSISTENT_WATCH_REMOVED})


class Console:
    """stdout and stderr shared by the shell and the loop thread, flushed per write."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._lock = threading.Lock()

    def out(self, text: str = "", end: str = "\n") -> None:
        self._write(self._out, text + end)

    def err(self, text: str = "", end: str = "\n") -> None:
        self._write(self._err, text + end)

    def _write(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(text)
            stream.flush()


class LoopThread:
    """An asyncio loop on a daemon thread; `run` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="zkcli-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in the shell: stop the command too
            raise

    def stop(self) -> None:
        """Cancel what still runs there, then stop and close the loop."""
        if not self.loop.is_running():
            return

        async def cancel_the_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


class _RawGetData(GetData):
    """getData that keeps a null value apart from an empty one (zkCli prints "null")."""

    __slots__ = ()

    def parse(self, r: Reader, chroot: Chroot) -> tuple[bytes | None, ZnodeStat]:  # type: ignore[override]
        data = r.buffer()
        return data, get(ZnodeStat, r)


class Connection:
    """One session of the shell. Constructed and used on the loop thread."""

    def __init__(self, hosts: str, timeout_ms: int, read_only: bool, console: Console,
                 print_watches: Callable[[], bool]) -> None:
        self.hosts = hosts
        self.addresses = parse_connect_string(hosts).addresses
        self.console = console
        self._print_watches = print_watches
        # Java's connect timeout: the session timeout shared among the hosts.
        self.connect_timeout = max(timeout_ms / 1000 / len(self.addresses), 1.0)
        self.client = Client(hosts, timeout_ms / 1000, read_only=read_only)
        self.client.add_listener(self._on_state)
        self._quiet = False  # closing on purpose (exit, expiry): no "Closed" event
        self.auth_failed = False
        self._authenticating = False
        self._held_disconnect = False
        self._removed_seen: set[tuple[EventType, str | None]] = set()
        self._starter: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting, in the background (as `new ZooKeeper(...)` does)."""
        self._starter = asyncio.get_running_loop().create_task(self._start())

    async def _start(self) -> None:
        try:
            await self.client.start(timeout=10.0 ** 9)  # keep trying, like the Java client
        except Exception:
            pass  # closed meanwhile

    async def close(self, quiet: bool = False) -> None:
        self._quiet = self._quiet or quiet
        await self.client.close()

    async def add_auth(self, scheme: str, credential: bytes | None) -> None:
        """addauth. Refused credentials end the session (AUTH_FAILED), as in ZooKeeper's
        client, where the dropped connection is not told as a disconnection."""
        self._authenticating, self._held_disconnect = True, False
        try:
            await self.client.add_auth(scheme, credential)  # type: ignore[arg-type]  # None: a null buffer
        except AuthFailedError:
            self.say_event(EventType.NONE, KeeperState.AUTH_FAILED, None)
            self.auth_failed = True
            await self.close(quiet=True)
            return
        finally:
            self._authenticating = False
        if self._held_disconnect and not self.client.connected:
            self.say_event(EventType.NONE, KeeperState.DISCONNECTED, None)

    @property
    def state_name(self) -> str:
        return "AUTH_FAILED" if self.auth_failed else PROMPT_STATES[self.client.state]

    @property
    def alive(self) -> bool:
        """ZooKeeper.States.isAlive(): anything but closed."""
        return self.client.state not in (State.CLOSED, State.EXPIRED) and not self.auth_failed

    # ---- what the session tells the operator -----------------------------------

    def say_event(self, event_type: EventType, state: KeeperState, path: str | None) -> None:
        if self._print_watches():
            self.console.out(watcher_message(event_type, state, path), end="")

    def _on_state(self, state: State) -> None:
        if state is State.CONNECTED:
            self.say_event(EventType.NONE, KeeperState.SYNC_CONNECTED, None)
        elif state is State.READ_ONLY:
            self.say_event(EventType.NONE, KeeperState.CONNECTED_READ_ONLY, None)
        elif state is State.SUSPENDED:
            if self._authenticating:
                self._held_disconnect = True  # maybe the server refusing credentials: see add_auth
            else:
                self.say_event(EventType.NONE, KeeperState.DISCONNECTED, None)
        elif state is State.EXPIRED:
            self.say_event(EventType.NONE, KeeperState.EXPIRED, None)
            self.console.err("Session expired: its ephemeral nodes and watches are gone; "
                             "'connect' starts a new session")
            self._quiet = True
            self._closer = asyncio.get_running_loop().create_task(self.client.close())
        elif state is State.CLOSED and not self._quiet:
            self.say_event(EventType.NONE, KeeperState.CLOSED, None)

    # The default watcher: every watch the shell sets (-w, addWatch, config -w) is this
    # one object, so an event that several of them see is printed once, as in Java.

    def notify(self, event: WatchedEvent) -> None:
        if event.type is EventType.NONE:
            return  # connection states are told by _on_state
        if event.type in _REMOVED_EVENTS:
            key = (event.type, event.path)
            if key in self._removed_seen:
                return  # one watcher removed from several kinds: Java tells it once
            self._removed_seen.add(key)
        self.say_event(event.type, event.state, event.path)

    def end(self, error: BaseException | None) -> None:
        pass  # expiry and close are told by _on_state

    def begin_watch_removal(self) -> None:
        self._removed_seen.clear()

    # ---- requests --------------------------------------------------------------

    async def ready(self, path: str | None) -> None:
        """Wait until the session is connected; ConnectionLoss if no server answers
        within the connect timeout, at once if none accepts a connection."""
        c = self.client
        if c.connected:
            return
        if c.state is State.CLOSED:
            raise ConnectionLoss(path)
        try:
            await c.wait_for_state(State.CONNECTED, State.READ_ONLY, timeout=0.25)
        except TimeoutError:
            if not await self._any_server_listening():
                raise ConnectionLoss(path) from None
            try:
                await c.wait_for_state(State.CONNECTED, State.READ_ONLY, timeout=self.connect_timeout)
            except TimeoutError:
                raise ConnectionLoss(path) from None
        if not c.connected:
            raise ConnectionLoss(path)

    async def _any_server_listening(self) -> bool:
        async def probe(host: str, port: int) -> bool:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    _, writer = await asyncio.open_connection(host, port)
            except (OSError, TimeoutError):
                return False
            writer.close()
            return True

        results = await asyncio.gather(*(probe(a.host, a.port) for a in self.addresses))
        return any(results)

    def has_watch(self, path: str, kinds: Iterable[WatchKind]) -> bool:
        """Whether this session holds a watch of one of `kinds` on `path` (the Client
        API does not say; zkCli.sh checks its own watch table before removing)."""
        client = self.client
        registry = client._session.registry
        server_path = client._server_path(path)
        return any(registry.has(kind, server_path) for kind in kinds)

    async def create(self, path: str, data: bytes | None, acl: list[ACL], mode: CreateMode, ttl: int) -> str:
        """create, with a null value when `data` is None (the Client API always sends bytes)."""
        await self.ready(path)
        client = self.client
        op = Create(client._server_path(path, mode.is_sequential), data, acl, mode, ttl,  # type: ignore[arg-type]
                    with_stat=False)  # data None goes out as a null buffer
        created, _ = await client._run(op, path=path)
        return created  # type: ignore[no-any-return]

    async def get_data(self, path: str, watch: bool, chrooted: bool = True) -> tuple[bytes | None, ZnodeStat]:
        """getData, telling a null value (None) from an empty one. `chrooted=False`
        reads `path` as the server names it (getConfig ignores the chroot)."""
        await self.ready(path)
        client = self.client
        op = _RawGetData(client._server_path(path) if chrooted else path, watch)
        return await client._run(op, self if watch else None, path)  # type: ignore[no-any-return]
