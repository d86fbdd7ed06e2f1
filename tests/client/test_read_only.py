"""Read-only mode: a client allowed to use a read-only server reports READ_ONLY, gets
NotReadOnlyCallError for writes, and moves to a read-write server once one answers.

A real read-only server needs an ensemble that lost its quorum; here a small fake
plays one (handshake with readOnly=true, "ro" to isro, NOTREADONLY to requests)."""

from __future__ import annotations

import asyncio
import random
import struct

import pytest

from zkeeper.client import Client, NotReadOnlyCallError, State
from zkeeper.jute.records import ConnectRequest, ConnectResponse, ReplyHeader, RequestHeader
from zkeeper.jute.schema import decode, encode
from zkeeper.types import PING_XID


class FakeReadOnlyServer:
    def __init__(self) -> None:
        self.requests: list[ConnectRequest] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readexactly(4)
            if head == b"isro":
                writer.write(b"ro")
                return
            self.requests.append(decode(ConnectRequest, await reader.readexactly(struct.unpack(">i", head)[0])))
            self._send(writer, encode(ConnectResponse(0, 4000, 0x5550001, b"r" * 16, True)))
            while True:
                (n,) = struct.unpack(">i", await reader.readexactly(4))
                h = decode(RequestHeader, await reader.readexactly(n))
                self._send(writer, encode(ReplyHeader(h.xid, 0, 0 if h.xid == PING_XID else -119)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _send(writer: asyncio.StreamWriter, payload: bytes) -> None:
        writer.write(struct.pack(">i", len(payload)) + payload)


class InOrder(random.Random):
    def shuffle(self, x: list[object]) -> None:  # type: ignore[override]
        pass  # try the hosts in the order given


async def test_read_only_then_read_write(server) -> None:  # noqa: ANN001
    fake = FakeReadOnlyServer()
    await fake.start()
    try:
        c = Client(f"127.0.0.1:{fake.port},{server.hosts}", timeout=4.0, read_only=True, rng=InOrder())
        seen: list[State] = []
        c.add_listener(seen.append)
        await c.start()
        assert seen[0] is State.READ_ONLY and fake.requests[0].readOnly
        with pytest.raises(NotReadOnlyCallError):
            await c.create("/x")
        # The client asks the other host "isro", hears "rw", and moves there.
        await c.wait_for_state(State.CONNECTED, timeout=15)
        assert c.server == server.hosts
        assert seen[-2:] == [State.SUSPENDED, State.CONNECTED]
        # The read-only session was the fake's own: the real server gave a new one.
        assert c.session_id != 0x5550001
        assert await c.create("/ro-test-node", ephemeral=True) == "/ro-test-node"
        await c.close()
    finally:
        await fake.close()
