"""`Client`: the asyncio ZooKeeper client, with kazoo's method names and result shapes.

    async with Client("host1:2181,host2:2181/app", timeout=10.0) as client:
        await client.create("/job", b"data", makepath=True)
        data, stat = await client.get("/job")

Paths are the program's (the chroot is added and removed here); the `Session` below
does the connection work. Each method sends one request unless it says otherwise
(`makepath`, `ensure_path`, `recursive`), and raises the exception of its error code.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from ..jute.records import ACL, ClientInfo
from ..paths import join, parent_of, path_problem
from ..types import AddWatchMode, CreateMode, EventType, KeeperState, WatcherType
from .acl import OPEN_ACL_UNSAFE
from .exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    ConnectTimeoutError,
    NodeExistsError,
    NoNodeError,
    NoWatcherError,
    error_for,
)
from .hosts import Chroot, parse_connect_string
from .multi import ReadBatch, Transaction
from .ops import (
    AddWatch,
    Create,
    Delete,
    Exists,
    GetACL,
    GetAllChildrenNumber,
    GetChildren,
    GetData,
    GetEphemerals,
    Op,
    Reconfig,
    RemoveWatches,
    SetACL,
    SetData,
    Sync,
    WhoAmI,
)
from .retry import Retry
from .session import Session, four_letter
from .stat import ZnodeStat
from .states import State, WatchedEvent
from .watchers import EventStream, Watcher, as_watcher
from .watches import WatchKind

WatchArg = Watcher | Callable[[WatchedEvent], Any] | None

_SERVER_TYPE_OF_KIND = {
    WatchKind.DATA: WatcherType.DATA,
    WatchKind.EXIST: WatcherType.DATA,
    WatchKind.CHILD: WatcherType.CHILDREN,
    WatchKind.PERSISTENT: WatcherType.ANY,
    WatchKind.PERSISTENT_RECURSIVE: WatcherType.ANY,
}


def _check_path(path: str, sequential: bool = False) -> None:
    problem = path_problem(path, sequential)
    if problem is not None:
        raise ValueError(f"invalid path {path!r}: {problem}")


def _check_value(value: object) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"value must be bytes, not {type(value).__name__}")


def _create_mode(ephemeral: bool, sequence: bool, container: bool, ttl: int) -> CreateMode:
    if container:
        if ephemeral or sequence or ttl:
            raise ValueError("a container node cannot be ephemeral, sequential or have a TTL")
        return CreateMode.CONTAINER
    if ttl:
        if ephemeral or ttl < 0:
            raise ValueError("a TTL must be positive and is only for persistent nodes")
        return CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL if sequence else CreateMode.PERSISTENT_WITH_TTL
    return CreateMode(int(ephemeral) | int(sequence) << 1)


class StateStream:
    """Async iterator of state changes, following from the moment it is made."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._queue: asyncio.Queue[State] = asyncio.Queue()
        self._done = False
        session.add_listener(self._queue.put_nowait)
        if session.state is State.CLOSED:
            self._queue.put_nowait(State.CLOSED)

    def __aiter__(self) -> StateStream:
        return self

    async def __anext__(self) -> State:
        if self._done:
            raise StopAsyncIteration
        state = await self._queue.get()
        if state is State.CLOSED:
            await self.aclose()
        return state

    async def aclose(self) -> None:
        self._done = True
        self._session.remove_listener(self._queue.put_nowait)


class Client:
    """An asyncio ZooKeeper client.

    `hosts` is a connect string: `host:port` pairs separated by commas, optionally
    followed by a chroot path. `timeout` is the session timeout in seconds that we ask
    for (the server clamps it; see `session_timeout`). `read_only` lets the client use
    a server that lost its quorum, for reads. `session=(id, password)` resumes an
    existing session instead of making a new one. `rng` shuffles the hosts.
    """

    def __init__(self, hosts: str = "127.0.0.1:2181", timeout: float = 10.0, *,
                 connect_timeout: float = 15.0, read_only: bool = False,
                 auth_data: Iterable[tuple[str, str | bytes]] = (),
                 default_acl: Sequence[ACL] | None = None,
                 session: tuple[int, bytes] | None = None,
                 rng: random.Random | None = None, retry: Retry | None = None) -> None:
        cs = parse_connect_string(hosts)
        self.hosts = hosts
        self.chroot = cs.chroot
        self._chroot = Chroot(cs.chroot)
        self.connect_timeout = connect_timeout
        self.default_acl: list[ACL] = list(default_acl or OPEN_ACL_UNSAFE)
        self._auth_data = [(s, c.encode() if isinstance(c, str) else c) for s, c in auth_data]
        self._session = Session(cs.addresses, self._chroot, timeout, read_only=read_only,
                                rng=rng, session=session)
        self.retry = retry or Retry()

    # ---- lifecycle -------------------------------------------------------------

    async def start(self, timeout: float | None = None) -> None:
        """Connect and wait for a session (at most `timeout`, default connect_timeout)."""
        self._session.start()
        try:
            await self._session.wait_for(lambda s: s.is_connected, timeout or self.connect_timeout)
        except TimeoutError:
            await self.close()
            raise ConnectTimeoutError(f"no session with {self.hosts} within the timeout") from None
        if self.state is State.CLOSED:
            raise ConnectionClosedError()
        for scheme, credential in self._auth_data:
            await self._session.auth(scheme, credential)

    async def close(self) -> None:
        """Close the session (its ephemeral nodes go) and the connection. Idempotent."""
        await self._session.close()

    stop = close

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- state -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._session.state

    @property
    def connected(self) -> bool:
        return self._session.state.is_connected

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        """(session id, password) of the live session, for `Client(session=...)`."""
        s = self._session
        return (s.session_id, s.password) if s.session_id else None

    @property
    def session_id(self) -> int:
        return self._session.session_id

    @property
    def session_timeout(self) -> float | None:
        """The session timeout the server granted, in seconds."""
        return self._session.negotiated_timeout

    @property
    def last_zxid(self) -> int:
        return self._session.last_zxid

    @property
    def server(self) -> str | None:
        """The host:port we are connected to (or were last)."""
        a = self._session.address
        return str(a) if a else None

    def add_listener(self, listener: Callable[[State], Any]) -> None:
        """Call `listener(state)` on every state change, inside the event loop."""
        self._session.add_listener(listener)

    def remove_listener(self, listener: Callable[[State], Any]) -> None:
        self._session.remove_listener(listener)

    def states(self) -> StateStream:
        """Every state change from now on, as an async iterator; ends after CLOSED."""
        return StateStream(self._session)

    async def wait_for_state(self, *states: State, timeout: float | None = None) -> State:
        """Wait until the state is one of `states` (or CLOSED); TimeoutError after `timeout`."""
        return await self._session.wait_for(lambda s: s in states, timeout)

    # ---- plumbing shared with the builders -------------------------------------

    def _server_path(self, path: str, sequential: bool = False) -> str:
        _check_path(path, sequential)
        return self._chroot.add(path)

    async def _run(self, op: Op[Any], watch: WatchArg = None, path: str | None = None) -> Any:
        """Send `op`; its result, or the exception of its error code."""
        watcher = as_watcher(watch) if watch is not None else None
        try:
            reply = await self._session.call(op, watcher)
        except ConnectionLoss as e:
            e.retry_safety = op.retry
            raise
        if reply.err:
            raise error_for(reply.err, path)
        return reply.result

    def _create_op(self, path: str, value: bytes, acl: Sequence[ACL] | None, ephemeral: bool,
                   sequence: bool, container: bool, ttl: int, with_stat: bool = True) -> Create:
        _check_value(value)
        mode = _create_mode(ephemeral, sequence, container, ttl)
        acl = list(acl) if acl is not None else self.default_acl
        return Create(self._server_path(path, sequence), bytes(value), acl, mode, ttl, with_stat)

    # ---- nodes -----------------------------------------------------------------

    async def create(self, path: str, value: bytes = b"", acl: Sequence[ACL] | None = None,
                     ephemeral: bool = False, sequence: bool = False, makepath: bool = False,
                     include_data: bool = False, *, container: bool = False, ttl: int = 0
                     ) -> Any:
        """Create a node; return its path (with the sequence number), or (path, stat).

        `container` makes a container node (removed by the server once its last child
        goes); `ttl` (ms) a persistent node removed when it has been childless and
        unchanged that long (needs extendedTypesEnabled). `makepath` creates missing
        parents first, with the same ACL.
        """
        op = self._create_op(path, value, acl, ephemeral, sequence, container, ttl)
        try:
            created, stat = await self._run(op, path=path)
        except NoNodeError:
            if not makepath:
                raise
            await self.ensure_path(parent_of(path), acl)
            created, stat = await self._run(op, path=path)
        return (created, stat) if include_data else created

    async def ensure_path(self, path: str, acl: Sequence[ACL] | None = None) -> bool:
        """Create `path` and any missing parents (several requests); True when it exists."""
        _check_path(path)
        if await self.exists(path) is not None:
            return True
        missing = [path]
        while (parent := parent_of(missing[-1])) != "/" and await self.exists(parent) is None:
            missing.append(parent)
        for p in reversed(missing):
            try:
                await self.create(p, b"", acl)
            except NodeExistsError:
                pass
        return True

    async def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        """Delete a node (only at `version` unless -1); `recursive` deletes its subtree
        first, node by node (not atomic)."""
        if recursive:
            await self._delete_tree(path)
            return True
        await self._run(Delete(self._server_path(path), version), path=path)
        return True

    async def _delete_tree(self, path: str) -> None:
        try:
            children = await self.get_children(path)
        except NoNodeError:
            return
        for child in children:
            await self._delete_tree(join(path, child))
        if path != "/":
            try:
                await self.delete(path)
            except NoNodeError:
                pass

    async def exists(self, path: str, watch: WatchArg = None) -> ZnodeStat | None:
        """The node's stat, or None. A watch fires on create, change or delete."""
        try:
            return await self._run(Exists(self._server_path(path), watch is not None), watch, path)  # type: ignore[no-any-return]
        except NoNodeError:
            return None

    async def get(self, path: str, watch: WatchArg = None) -> tuple[bytes, ZnodeStat]:
        """(data, stat). A watch fires on change or delete."""
        return await self._run(GetData(self._server_path(path), watch is not None), watch, path)  # type: ignore[no-any-return]

    async def get_children(self, path: str, watch: WatchArg = None, include_data: bool = False) -> Any:
        """Child names (unordered), or (names, stat). A watch fires on child changes or delete."""
        children, stat = await self._run(GetChildren(self._server_path(path), watch is not None), watch, path)
        return (children, stat) if include_data else children

    async def set(self, path: str, value: bytes, version: int = -1) -> ZnodeStat:
        """Replace the data (only at `version` unless -1); the new stat."""
        _check_value(value)
        return await self._run(SetData(self._server_path(path), bytes(value), version), path=path)  # type: ignore[no-any-return]

    set_data = set

    async def get_acls(self, path: str) -> tuple[list[ACL], ZnodeStat]:
        return await self._run(GetACL(self._server_path(path)), path=path)  # type: ignore[no-any-return]

    async def set_acls(self, path: str, acls: Sequence[ACL], version: int = -1) -> ZnodeStat:
        return await self._run(SetACL(self._server_path(path), list(acls), version), path=path)  # type: ignore[no-any-return]

    async def sync(self, path: str) -> str:
        """Wait until this server has every write committed before the call (for a read after)."""
        return await self._run(Sync(self._server_path(path)), path=path)  # type: ignore[no-any-return]

    async def get_ephemerals(self, prefix: str = "/") -> list[str]:
        """This session's ephemeral nodes whose path starts with `prefix`."""
        return await self._run(GetEphemerals(self._chroot.add(prefix)), path=prefix)  # type: ignore[no-any-return]

    async def get_all_children_number(self, path: str = "/") -> int:
        """How many nodes lie below `path` (all depths)."""
        return await self._run(GetAllChildrenNumber(self._server_path(path)), path=path)  # type: ignore[no-any-return]

    def transaction(self) -> Transaction:
        return Transaction(self)

    def multi_read(self) -> ReadBatch:
        return ReadBatch(self)

    # ---- session and server ----------------------------------------------------

    async def add_auth(self, scheme: str, credential: str | bytes) -> None:
        """Add credentials to this session (`digest`, "user:password"); AuthFailedError
        if the server refuses them. They are re-sent on every reconnect."""
        await self._session.auth(scheme, credential.encode() if isinstance(credential, str) else credential)

    async def whoami(self) -> list[ClientInfo]:
        """The identities this connection is authenticated as (ZooKeeper 3.7+)."""
        return await self._run(WhoAmI())  # type: ignore[no-any-return]

    async def command(self, cmd: str = "ruok", timeout: float = 5.0) -> str:
        """A four-letter word (`ruok`, `srvr`, `mntr`...) sent to the server we are
        connected to (or the first host), on a connection of its own; the answer."""
        return await four_letter(self._session.address or self._session.first_address, cmd, timeout)

    async def reconfig(self, joining: str | None, leaving: str | None, new_members: str | None,
                       from_config: int = -1) -> tuple[bytes, ZnodeStat]:
        """Change the ensemble (needs reconfigEnabled); the new config node's (data, stat)."""
        return await self._run(Reconfig(joining, leaving, new_members, from_config))  # type: ignore[no-any-return]

    # ---- watches ---------------------------------------------------------------

    async def add_watch(self, path: str, watch: Watcher | Callable[[WatchedEvent], Any],
                        mode: AddWatchMode = AddWatchMode.PERSISTENT) -> None:
        """A watch that stays after it fires. PERSISTENT sees the node's create/change/
        delete and child changes; PERSISTENT_RECURSIVE create/change/delete of the node
        and every node below it."""
        await self._run(AddWatch(self._server_path(path), mode), watch, path)

    async def remove_watches(self, path: str, watch: Watcher | Callable[[WatchedEvent], Any],
                             watcher_type: WatcherType = WatcherType.ANY) -> None:
        """Remove one watcher; it gets a *_WATCH_REMOVED event. NoWatcherError if it had none."""
        removed = self._session.registry.remove(watcher_type, self._server_path(path), as_watcher(watch))
        if not removed:
            raise NoWatcherError(path)
        await self._forget_on_server(path, {k for k, _ in removed})
        self._announce_removed(path, removed)

    async def remove_all_watches(self, path: str, watcher_type: WatcherType = WatcherType.ANY) -> None:
        """Remove every watch of `watcher_type` on `path`, here and on the server."""
        removed = self._session.registry.remove(watcher_type, self._server_path(path))
        if watcher_type in (WatcherType.PERSISTENT, WatcherType.PERSISTENT_RECURSIVE):
            await self._forget_on_server(path, {k for k, _ in removed})
        else:
            await self._run(RemoveWatches(self._server_path(path), watcher_type), path=path)
        self._announce_removed(path, removed)

    async def _forget_on_server(self, path: str, kinds: AbstractSet[WatchKind]) -> None:
        """Drop server-side watches that no local watcher needs any more.

        ZooKeeper 3.8 removes persistent watches only with type ANY, which takes every
        watch on the path, so those go only once nothing else here watches the path.
        """
        server_path = self._server_path(path)
        has = self._session.registry.has
        types: list[WatcherType] = []
        for kind in kinds:
            if kind in (WatchKind.PERSISTENT, WatchKind.PERSISTENT_RECURSIVE):
                if not any(has(k, server_path) for k in WatchKind):
                    types.append(WatcherType.ANY)
            elif not any(has(k, server_path) for k in WatchKind if _SERVER_TYPE_OF_KIND[k] is _SERVER_TYPE_OF_KIND[kind]):
                types.append(_SERVER_TYPE_OF_KIND[kind])
        for wtype in sorted(frozenset(types)):
            try:
                await self._run(RemoveWatches(server_path, wtype), path=path)
            except NoWatcherError:
                pass  # it fired meanwhile: gone either way

    def _announce_removed(self, path: str, removed: list[tuple[WatchKind, Watcher]]) -> None:
        for kind, watcher in removed:
            watcher.notify(WatchedEvent(kind.removed_event, KeeperState.SYNC_CONNECTED, path))

    def watch_data(self, path: str) -> EventStream:
        """Events of one node (created, changed, deleted), for as long as it is iterated.

        Built on one-shot watches re-set before each event is handed out."""
        return EventStream(lambda s: self.exists(path, watch=s), one_shot=True)

    def watch_children(self, path: str) -> EventStream:
        """Child changes of an existing node; ends after the node's NODE_DELETED."""
        return EventStream(lambda s: self.get_children(path, watch=s), one_shot=True,
                           last_events=frozenset({EventType.NODE_DELETED}))

    def watch_persistent(self, path: str, recursive: bool = False) -> EventStream:
        """Events of a persistent (or recursive) watch; the watch is removed on exit."""
        mode = AddWatchMode.PERSISTENT_RECURSIVE if recursive else AddWatchMode.PERSISTENT
        wtype = WatcherType.PERSISTENT_RECURSIVE if recursive else WatcherType.PERSISTENT

        async def disarm(s: EventStream) -> None:
            try:
                await self.remove_watches(path, s, wtype)
            except (NoWatcherError, ConnectionClosedError):
                pass

        return EventStream(lambda s: self.add_watch(path, s, mode), one_shot=False, disarm=disarm)
