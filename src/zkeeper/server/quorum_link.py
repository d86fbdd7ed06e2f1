"""One leader-learner connection on the quorum port: QuorumPackets in and out over asyncio streams."""

from __future__ import annotations

import asyncio
import socket

from ..jute.quorum import PacketType, QuorumPacket
from ..zab.packets import PacketError, PacketParser
from .host import Host


class LinkClosed(Exception):
    """The peer went away, sent garbage, or said nothing for longer than allowed."""


class QuorumLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = PacketParser()
        self._ready: list[QuorumPacket] = []
        self.closed = False
        sock = writer.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            # Proposals and acks are small and latency-bound: never wait for Nagle.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"

    @classmethod
    async def connect(cls, via: Host, host: str, port: int, timeout: float) -> QuorumLink:
        reader, writer = await asyncio.wait_for(via.connect(host, port), timeout)
        return cls(reader, writer)

    async def read(self, timeout: float) -> QuorumPacket:
        """The next packet; LinkClosed on EOF, garbage, or `timeout` seconds of silence."""
        while not self._ready:
            try:
                data = await asyncio.wait_for(self._reader.read(1 << 16), timeout)
            except asyncio.TimeoutError:
                raise LinkClosed(f"no packet from {self.peer} in {timeout:.1f} s") from None
            except OSError as e:
                raise LinkClosed(f"connection to {self.peer} failed: {e}") from None
            if not data:
                raise LinkClosed(f"{self.peer} closed the connection")
            try:
                self._ready = self._parser.feed(data)
            except PacketError as e:
                raise LinkClosed(f"{self.peer}: {e}") from None
        return self._ready.pop(0)

    def send(self, data: bytes) -> None:
        if not self.closed:
            self._writer.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()


def packet_name(type_: int) -> str:
    try:
        return PacketType(type_).name
    except ValueError:
        return f"type {type_}"
