"""Helpers for testing programs that use ZooKeeper: a real zkeeper server on a free port.

    with start_server() as server:               # a subprocess
        async with Client(server.hosts) as client: ...

    with start_server(in_process=True) as server:  # a thread of this process
        ...

Servers listen on 127.0.0.1 only, keep their data in a temporary folder (removed on
stop unless you passed `directory`), and stop exactly what they started.
`expire_session(client)` makes the server expire a client's session now, the way a
long network partition would, to test what a program does when its ephemerals vanish;
`Proxy` stands between clients and a server to cut or silence the network.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from .client import Client, State

SRC_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(directory: Path, port: int, tick_time: int, extra: dict[str, str] | None) -> Path:
    """A standalone zoo.cfg in `directory` (data in directory/data); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = {
        "tickTime": str(tick_time),
        "dataDir": str(directory / "data"),
        "clientPort": str(port),
        "clientPortAddress": "127.0.0.1",
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "*",
        "extendedTypesEnabled": "true",
        **(extra or {}),
    }
    path = directory / "zoo.cfg"
    path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    return path


def _answers_srvr(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"srvr")
            return b"Mode:" in s.recv(4096)
    except OSError:
        return False


class TestServer:
    """A running zkeeper server: `hosts` is its connect string."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, port: int, owns_directory: bool) -> None:
        self.directory = directory
        self.port = port
        self._owns_directory = owns_directory

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop the server and, if we made its folder, remove it."""
        self._stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> TestServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class SubprocessServer(TestServer):
    """`python -m zkeeper.cli.zkserver start-foreground zoo.cfg` in a child process."""

    def __init__(self, directory: Path, port: int, owns_directory: bool, config: Path) -> None:
        super().__init__(directory, port, owns_directory)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_ROOT), env.get("PYTHONPATH")]))
        self.log_path = directory / "server.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "zkeeper.cli.zkserver", "start-foreground", str(config)],
                stdout=log, stderr=subprocess.STDOUT, cwd=directory, env=env)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not _answers_srvr(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"zkeeper exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self._stop()
                raise RuntimeError(f"zkeeper did not start within {timeout}s; see {self.log_path}")
            time.sleep(0.05)

    def _stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        self._stop(signal.SIGKILL)


class InProcessServer(TestServer):
    """The zkeeper server on its own event loop in a daemon thread of this process."""

    def __init__(self, directory: Path, port: int, owns_directory: bool, config: Path) -> None:
        super().__init__(directory, port, owns_directory)
        from .server.config import load_config
        from .server.standalone import ZooKeeperServer

        self._server: Any = ZooKeeperServer(load_config(config))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="zkeeper-test-server", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout: float) -> None:
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(timeout)

    def _stop(self) -> None:
        if not self._loop.is_running():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


def start_server(directory: str | os.PathLike[str] | None = None, *, in_process: bool = False,
                 port: int | None = None, tick_time: int = 2000, extra: dict[str, str] | None = None,
                 timeout: float = 30.0) -> TestServer:
    """Start a standalone zkeeper server and wait until it serves.

    `directory` keeps its config and data (a temporary folder, removed on stop, if
    None); `port` defaults to a free one; `extra` adds zoo.cfg keys. A small
    `tick_time` (say 100-250 ms) makes short session timeouts possible.
    """
    owns = directory is None
    where = Path(tempfile.mkdtemp(prefix="zkeeper-test-")) if directory is None else Path(directory)
    port = port or free_port()
    config = write_config(where, port, tick_time, extra)
    kind = InProcessServer if in_process else SubprocessServer
    server = kind(where, port, owns, config)
    try:
        server.wait_ready(timeout)
    except BaseException:
        server.stop()
        raise
    return server


async def expire_session(client: Client, timeout: float = 30.0) -> None:
    """Make the server expire `client`'s session now; return once the client has a new one.

    A second connection takes over the session (same id and password) and closes it,
    which ends the session on the server at once, as an expiry would: its ephemeral
    nodes are deleted and its watches dropped. The client learns this when it next
    reconnects, reports EXPIRED, then starts a fresh session.
    """
    old = client.client_id
    if old is None:
        raise RuntimeError("the client has no session to expire")
    seen_expired = asyncio.Event()
    got_new = asyncio.Event()

    def follow(state: State) -> None:
        if state is State.EXPIRED:
            seen_expired.set()
        elif seen_expired.is_set() and state.is_connected:
            got_new.set()

    client.add_listener(follow)
    try:
        hosts = client.hosts.split("/", 1)[0]
        async with Client(hosts, session=old, timeout=client.session_timeout or 10.0):
            pass  # leaving the block closes the session
        await asyncio.wait_for(got_new.wait(), timeout)
    finally:
        client.remove_listener(follow)


class Proxy:
    """A TCP proxy in front of a server, for network faults in tests (asyncio, this loop).

        async with Proxy(server.port) as proxy:
            client = Client(proxy.hosts)
            proxy.cut()            # drop every connection now (clients reconnect)
            proxy.silence(True)    # keep connections open but pass no byte: a silent server
            proxy.target_port = p  # send new connections elsewhere (a restarted server)
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.silent = False
        self.connections = 0  # accepted so far
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            if self.silent:
                await self._pump(reader, None)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
            except OSError:
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
            finally:
                self._close(up_writer)
        finally:
            self._close(writer)
            self._handlers.discard(task)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter | None) -> None:
        try:
            while data := await src.read(65536):
                if dst is not None and not self.silent:
                    dst.write(data)
        except (ConnectionError, OSError):
            pass
        finally:
            if dst is not None:
                self._close(dst)

    def _close(self, writer: asyncio.StreamWriter) -> None:
        self._writers.discard(writer)
        writer.close()

    def silence(self, on: bool = True) -> None:
        """Drop every byte both ways (and dial nobody for new connections) while on."""
        self.silent = on

    def cut(self) -> None:
        """Close every connection now; new ones are still accepted."""
        for writer in list(self._writers):
            transport = writer.transport
            self._close(writer)
            transport.abort()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        # Let every connection's handler see its end, so none is left for the loop to kill.
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Proxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
