"""A minimal HTTP/1.1 GET server over asyncio streams, for the admin and metrics endpoints.

One request per connection, bounded head size and read timeout; the handler maps a
path and query to (status, content type, body). No third-party dependencies.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("zkeeper.server.http")

Handler = Callable[[str, str, dict[str, list[str]]], tuple[int, str, bytes]]
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_MAX_HEAD = 16 * 1024
_TIMEOUT_S = 30.0


class HttpServer:
    def __init__(self, host: str, port: int, handler: Handler, name: str) -> None:
        self.host, self.port, self.handler, self.name = host, port, handler, name
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        log.info("%s listening on http://%s:%d", self.name, self.host, self.bound_port)

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _TIMEOUT_S)
            status, ctype, body = self._respond(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
            writer.close()
            return
        except Exception:
            log.exception("%s: internal error", self.name)
            status, ctype, body = 500, "text/plain", b"internal error\n"
        reason = _REASONS.get(status, "Error")
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode() + body
        )
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    def _respond(self, head: bytes) -> tuple[int, str, bytes]:
        if len(head) > _MAX_HEAD:
            return 400, "text/plain", b"request too large\n"
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3:
            return 400, "text/plain", b"bad request line\n"
        method, target, _ = parts
        if method not in ("GET", "POST"):
            return 405, "text/plain", b"method not allowed\n"
        url = urlsplit(target)
        return self.handler(method, unquote(url.path), parse_qs(url.query))
