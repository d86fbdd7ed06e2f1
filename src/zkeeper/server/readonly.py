"""Read-only service while a member has no quorum (`readonlymode.enabled`).

As ZooKeeper's ReadOnlyZooKeeperServer: a member that has been LOOKING for a while
serves its last data to clients that asked for read-only mode (ConnectRequest.readOnly),
turns away the others, and answers every write with NOTREADONLY. Its sessions are
local: nothing is logged or proposed, and they end when the member rejoins a quorum
(the client then reconnects to a read-write server).
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import Code
from ..jute import ConnectRequest, ReplyHeader
from ..txn.request import Prepared, Request
from ..types import OpCode
from .connection import ClientConnection
from .host import clock_s
from .standalone import ZooKeeperServer

log = logging.getLogger("zkeeper.server.readonly")


class ReadOnlyServer(ZooKeeperServer):
    def __init__(self, peer: Any, state: tuple[Any, dict[int, int], int]) -> None:
        tree, _sessions, last = state
        # Sessions of the ensemble are not ours to track here: start with none.
        super().__init__(peer.config, (tree, {}, last), server_id=peer.my_id, stats=peer.stats, host=peer.host)
        self.mode = "read-only"
        self.read_only = True

    def handle_connect(self, conn: ClientConnection, req: ConnectRequest) -> None:
        if not req.readOnly:
            log.info("Refusing session request for not-read-only client %s", conn.peer[0])
            conn.close()
            return
        super().handle_connect(conn, req)

    def submit(self, req: Request) -> None:
        if req.type == OpCode.CREATE_SESSION:
            # A local session: live at once, never proposed.
            conn = req.origin
            if isinstance(conn, ClientConnection) and not conn.closed:
                self._finish_session(conn, valid=True)
            return
        if req.type == OpCode.CLOSE_SESSION:
            self.sessions.remove(req.session_id)
            owner = self.by_session.pop(req.session_id, None)
            conn = req.origin if isinstance(req.origin, ClientConnection) else owner
            if conn is not None and not conn.closed:
                if req.origin is conn:
                    conn.send_reply(ReplyHeader(req.cxid, self.tree.last_processed_zxid, Code.OK))
                conn.close()
            return
        if req.is_write:
            conn = req.origin
            if isinstance(conn, ClientConnection) and not conn.closed:
                conn.send_reply(ReplyHeader(req.cxid, self.tree.last_processed_zxid, Code.NOTREADONLY))
            return
        self._finish_safely(Prepared(req), clock_s())

    def start_serving(self) -> None:
        self.start_background_tasks()
        log.info("Read-only server started at zxid 0x%x", self.tree.last_processed_zxid)


__all__ = ["ReadOnlyServer"]
