"""Shared pieces for the interop tests: real servers, a cuttable TCP proxy, small waits.

Every server and proxy here listens on 127.0.0.1 only, and each fixture stops exactly
the processes and sockets it started.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.servers import RunningServer, four_letter, reference_available, start_reference, start_zkeeper

TICK_MS = 250  # session timeouts are clamped to [2, 20] ticks: [500 ms, 5 s]
CONTAINER_CHECK_MS = 100

SERVER_KINDS = ("zkeeper", "zookeeper")


def start_server(kind: str, directory: Path, *, tick_time: int = TICK_MS,
                 extra: dict[str, str] | None = None, system_props: dict[str, str] | None = None) -> RunningServer:
    """Start one server; `system_props` are JVM -D flags for the reference and zoo.cfg keys for zkeeper
    (zkeeper reads ZooKeeper's system properties from zoo.cfg, as ZooKeeper reads unknown keys)."""
    extra = dict(extra or {})
    props = dict(system_props or {})
    if kind == "zkeeper":
        extra.update(props)
        return start_zkeeper(directory, tick_time=tick_time, extra=extra)
    if not reference_available():
        pytest.skip("Apache ZooKeeper (Debian package 'zookeeper') and java are not installed")
    flags = tuple(f"-D{k}={v}" for k, v in props.items())
    return start_reference(directory, tick_time=tick_time, extra=extra, jvm_flags=flags)


@pytest.fixture(scope="module", params=SERVER_KINDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server per kind for the whole module: short ticks, fast container/TTL reaping."""
    kind = request.param
    srv = start_server(kind, tmp_path_factory.mktemp(kind),
                       system_props={"znode.container.checkIntervalMs": str(CONTAINER_CHECK_MS)})
    try:
        yield srv
    finally:
        alive = srv.proc.poll() is None
        tail = srv.log_tail()
        srv.stop()
    assert alive, f"{kind} died during the module:\n{tail}"


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.02,
               message: str = "condition") -> object:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def mntr(port: int) -> dict[str, str]:
    out = {}
    for line in four_letter(port, "mntr").splitlines():
        key, sep, value = line.partition("\t")
        if sep:
            out[key.strip()] = value.strip()
    return out


# ---- a TCP proxy we can cut or blackhole --------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to the server's port, one thread pair per connection.

    `cut()` resets every live connection (the client sees the TCP connection drop and
    reconnects through the proxy); `blackhole(True)` keeps sockets open but drops every
    byte both ways and never dials the server for new connections, so the client's
    pings stop reaching the server, exactly what a network partition looks like.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self._blackholed = False
        self._closed = False
        self.accepted = 0
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _spawn(self, fn: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.1)  # so close() is noticed promptly
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            client.settimeout(None)
            with self._lock:
                self.accepted += 1
                if self._closed:
                    client.close()
                    return
                self._socks.append(client)
                blackholed = self._blackholed
            if blackholed:
                self._spawn(self._pump, client, None)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._close_sock(client)
                continue
            with self._lock:
                self._socks.append(upstream)
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if dst is None or self._blackholed:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close_sock(src)
            if dst is not None:
                self._close_sock(dst)

    @staticmethod
    def _close_sock(s: socket.socket) -> None:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        """Drop every live connection now (new ones are still accepted)."""
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            self._close_sock(s)

    def blackhole(self, on: bool) -> None:
        self._blackholed = on

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()
        for t in self._threads:
            t.join(timeout=2)


@pytest.fixture
def proxy_factory() -> Iterator[Callable[[int], TcpProxy]]:
    proxies: list[TcpProxy] = []

    def make(port: int) -> TcpProxy:
        p = TcpProxy(port)
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.close()
