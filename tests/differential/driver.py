"""Run steps against one server and record what every session observes, normalised.

After each step every connected session is pinged, so each watch event is recorded in
the step that caused it, in the order it arrived. Values that legitimately differ
between two correct servers are normalised away: session ids and ephemeral owners
become the label of the session ("s0", "s1", ... in opening order), passwords become
their shape, ctime/mtime become "0" or "~now", and children/ephemeral lists are sorted
because ZooKeeper does not define their order. Everything else is kept as sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from zkeeper.jute.records import (
    ACL,
    ClientInfo,
    ConnectResponse,
    SetWatches,
    SetWatches2,
    Stat,
)
from zkeeper.types import EventType, OpCode

from tests.support.wire import ConnectionClosed, MultiResult, Reply, ReplyTimeout, WireClient, WireError

from .steps import (
    AddAuth,
    Close,
    Disconnect,
    Entry,
    Expire,
    Open,
    Reconnect,
    Request,
    Resume,
    Step,
    Together,
    code_name,
)

POLL_INTERVAL = 0.02
CLOSE_WAIT = 3.0
DAY_MS = 86_400_000
UNORDERED_FIELDS = ("children", "ephemerals")


@dataclass
class ClientWatches:
    """The watches a client believes it holds, kept the way the Java client keeps them."""

    data: set[str] = field(default_factory=set)
    exist: set[str] = field(default_factory=set)
    child: set[str] = field(default_factory=set)
    persistent: set[str] = field(default_factory=set)
    recursive: set[str] = field(default_factory=set)

    def on_event(self, kind: int, path: str) -> None:
        if kind in (EventType.NODE_DATA_CHANGED, EventType.NODE_CREATED):
            self.data.discard(path)
            self.exist.discard(path)
        elif kind == EventType.NODE_CHILDREN_CHANGED:
            self.child.discard(path)
        elif kind == EventType.NODE_DELETED:
            self.data.discard(path)
            self.exist.discard(path)
            self.child.discard(path)

    def on_reply(self, opcode: int, record: Any, err: int) -> None:
        path = getattr(record, "path", None)
        watch = getattr(record, "watch", False)
        if not isinstance(path, str):
            return
        if opcode == OpCode.EXISTS and watch:
            if err == 0:
                self.data.add(path)
            elif err == -101:  # NONODE: an exists watch waits for the node to appear
                self.exist.add(path)
        elif opcode == OpCode.GET_DATA and watch and err == 0:
            self.data.add(path)
        elif opcode in (OpCode.GET_CHILDREN, OpCode.GET_CHILDREN2) and watch and err == 0:
            self.child.add(path)
        elif opcode == OpCode.ADD_WATCH and err == 0:
            (self.recursive if record.mode == 1 else self.persistent).add(path)
        elif opcode == OpCode.REMOVE_WATCHES and err == 0:
            if record.type in (1, 3):
                self.child.discard(path)
            if record.type in (2, 3):
                self.data.discard(path)
                self.exist.discard(path)


@dataclass
class Session:
    """One ZooKeeper session as the client side sees it; it outlives its connections."""

    label: str
    session_id: int
    passwd: bytes
    timeout_ms: int  # as requested; the client asks for it again when it reconnects
    client: WireClient | None
    negotiated_ms: int = 0
    last_zxid: int = 0
    alive: bool = True  # False once closed or expired
    auths: list[tuple[str, bytes]] = field(default_factory=list)
    watches: ClientWatches = field(default_factory=ClientWatches)

    @property
    def connected(self) -> bool:
        return self.alive and self.client is not None


class Driver:
    """One server, up to a handful of session slots, and the record of what they saw."""

    def __init__(self, port: int, *, reply_timeout: float = 5.0, expiry_timeout: float = 10.0) -> None:
        self.port = port
        self.reply_timeout = reply_timeout
        self.expiry_timeout = expiry_timeout
        self.slots: dict[int, Session] = {}
        self.labels: dict[int, str] = {}
        self.started_ms = int(time.time() * 1000)
        self.last_zxid = 0  # the server's zxid as last reported by a ping
        self.timing_notes: list[str] = []  # sessions left unpinged for long: possible false alarms
        self._entries: list[Entry] = []
        self._last_ping: dict[int, float] = {}
        self._steps_run = 0

    # ---- the one entry point ------------------------------------------------------

    def run(self, step: Step) -> list[Entry]:
        """Perform `step`, then ping every connected session; return what was observed."""
        self._entries = []
        handler = {
            Request: self._request,
            Together: self._together,
            AddAuth: self._add_auth,
            Open: self._open,
            Close: self._close,
            Disconnect: self._disconnect,
            Reconnect: self._reconnect,
            Expire: self._expire,
            Resume: self._resume,
        }[type(step)]
        handler(step)  # type: ignore[operator]
        self._barrier()
        self._steps_run += 1
        return self._entries

    def shutdown(self) -> None:
        for sess in self.slots.values():
            if sess.client is not None:
                sess.client.close()
                sess.client = None

    def connected_slots(self) -> list[int]:
        return sorted(s for s, sess in self.slots.items() if sess.connected)

    # ---- steps --------------------------------------------------------------------

    def _request(self, step: Request) -> None:
        sess = self._connected(step.slot)
        if sess is None:
            return
        reply = self._guard(step.slot, lambda c: c.call(step.opcode, step.record))
        if reply is None:
            return
        if sess.client is not None:
            sess.last_zxid = sess.client.last_zxid
        self._record(step.slot, "reply", {"op": _op_name(step.opcode), **self._reply_data(reply)})
        self._track_watches(sess, step.opcode, step.record, reply)

    def _together(self, step: Together) -> None:
        for request in step.requests:
            self._request(request)

    def _add_auth(self, step: AddAuth) -> None:
        sess = self._connected(step.slot)
        if sess is None:
            return
        header = self._guard(step.slot, lambda c: c.auth(step.scheme, step.credentials))
        if header is None:
            return
        self._record(step.slot, "auth", _header_data(header))
        if header.err == 0:
            sess.auths.append((step.scheme, step.credentials))

    def _open(self, step: Open) -> None:
        old = self.slots.get(step.slot)
        if old is not None and old.connected:
            self._record(step.slot, "harness", {"error": "slot already holds a connected session"})
            return
        try:
            client = WireClient(self.port, timeout=self.reply_timeout)
        except WireError as e:
            self._record(step.slot, "connect", {"failed": _failure_kind(e)})
            return
        try:
            resp = client.connect(timeout_ms=step.timeout_ms)
        except WireError as e:
            client.close()
            self._record(step.slot, "connect", {"failed": _failure_kind(e)})
            return
        label = self._label(resp.sessionId)
        self._record(step.slot, "connect", self._connect_data(resp))
        if resp.sessionId == 0:
            client.close()
            return
        self.slots[step.slot] = Session(label, resp.sessionId, resp.passwd, step.timeout_ms, client, resp.timeOut)
        self._last_ping[step.slot] = time.monotonic()

    def _close(self, step: Close) -> None:
        sess = self._connected(step.slot)
        if sess is None:
            return
        reply = self._guard(step.slot, lambda c: c.close_session())
        if reply is None:
            return
        assert sess.client is not None
        closed = sess.client.wait_closed(CLOSE_WAIT)
        self._drain(step.slot, sess.client)
        self._record(step.slot, "reply", {"op": "closeSession", **self._reply_data(reply), "server_closed": closed})
        sess.client.close()
        sess.client = None
        sess.alive = False

    def _disconnect(self, step: Disconnect) -> None:
        sess = self._connected(step.slot)
        if sess is None:
            return
        assert sess.client is not None
        sess.client.close()
        sess.client = None
        self._record(step.slot, "dropped")

    def _reconnect(self, step: Reconnect) -> None:
        sess = self.slots.get(step.slot)
        if sess is None or not sess.alive or sess.client is not None:
            self._record(step.slot, "harness", {"error": "no disconnected session to resume"})
            return
        if step.bad_password_first:
            wrong = bytes(b ^ 0x5A for b in sess.passwd) or b"\x5a" * 16
            self._try_connect(step.slot, sess, wrong, keep=False)
        client = self._try_connect(step.slot, sess, sess.passwd, keep=True)
        if client is None:
            return
        sess.client = client
        self._last_ping[step.slot] = time.monotonic()
        self._send_set_watches(step, sess)
        for scheme, credentials in sess.auths:
            if not sess.connected:
                return
            header = self._guard(step.slot, lambda c: c.auth(scheme, credentials))
            if header is not None:
                self._record(step.slot, "auth", _header_data(header))

    def _expire(self, step: Expire) -> None:
        sess = self.slots.get(step.slot)
        if sess is None or not sess.alive:
            self._record(step.slot, "harness", {"error": "no live session to expire"})
            return
        witnesses = [s for s in self.connected_slots() if s != step.slot]
        deadline = time.monotonic() + self.expiry_timeout + sess.timeout_ms / 1000
        observed = False
        if witnesses:
            # The zxid as of the last step: the session may already have expired since then,
            # e.g. while the other server of the pair was running this step.
            before = self.last_zxid
            while not observed and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
                zxid = self._poll_zxid([s for s in witnesses if self.slots[s].connected])
                observed = zxid is not None and zxid > before
        elif sess.client is not None:
            observed = sess.client.wait_closed(max(0.0, deadline - time.monotonic()))
        if sess.client is not None:
            sess.client.close()  # frames sent to the expired session are not observed
            sess.client = None
        sess.alive = False
        self._record(step.slot, "expired", {"observed": observed})

    def _resume(self, step: Resume) -> None:
        sess = self.slots.get(step.slot)
        if sess is None or sess.alive:
            self._record(step.slot, "harness", {"error": "no dead session to resume"})
            return
        self._try_connect(step.slot, sess, sess.passwd, keep=False)

    # ---- connection helpers -----------------------------------------------------

    def _try_connect(self, slot: int, sess: Session, passwd: bytes, *, keep: bool) -> WireClient | None:
        """Resume `sess` with `passwd`; keep the connection only if asked and accepted."""
        try:
            client = WireClient(self.port, timeout=self.reply_timeout)
        except WireError as e:
            self._record(slot, "connect", {"failed": _failure_kind(e)})
            return None
        client.last_zxid = sess.last_zxid
        try:
            resp = client.connect(timeout_ms=sess.timeout_ms, session_id=sess.session_id, passwd=passwd)
        except WireError as e:
            client.close()
            self._record(slot, "connect", {"failed": _failure_kind(e)})
            return None
        data = self._connect_data(resp)
        if resp.sessionId == 0 or not keep:
            data["server_closed"] = client.wait_closed(CLOSE_WAIT)
            client.close()
            self._record(slot, "connect", data)
            if keep:
                sess.alive = False
            return None
        self._record(slot, "connect", data)
        return client

    def _send_set_watches(self, step: Reconnect, sess: Session) -> None:
        w = sess.watches
        data = _merge(w.data, step.extra_data)
        exist = _merge(w.exist, step.extra_exist)
        child = _merge(w.child, step.extra_child)
        persistent, recursive = sorted(w.persistent), sorted(w.recursive)
        if not (data or exist or child or persistent or recursive):
            return  # the Java client sends no SetWatches when it holds no watch
        relative = max(0, sess.last_zxid - step.rewind_zxid)
        record: SetWatches | SetWatches2
        if persistent or recursive or step.prefer_set_watches2:
            opcode = OpCode.SET_WATCHES2
            record = SetWatches2(relative, data, exist, child, persistent, recursive)
        else:
            opcode = OpCode.SET_WATCHES
            record = SetWatches(relative, data, exist, child)
        header = self._guard(step.slot, lambda c: c.set_watches(opcode, record))
        if header is not None:
            self._record(step.slot, "setWatch", {"op": _op_name(opcode), **_header_data(header)})

    def _connected(self, slot: int) -> Session | None:
        sess = self.slots.get(slot)
        if sess is None or not sess.connected:
            self._record(slot, "harness", {"error": "no connected session on this slot"})
            return None
        return sess

    def _guard(self, slot: int, action: Any) -> Any:
        """Run `action(client)`; on a dead or silent connection record it and drop the socket."""
        sess = self.slots[slot]
        assert sess.client is not None
        try:
            result = action(sess.client)
        except WireError as e:
            self._drain(slot, sess.client)
            self._record(slot, _failure_kind(e))
            sess.client.close()
            sess.client = None
            return None
        self._drain(slot, sess.client)
        return result

    def _barrier(self) -> None:
        for slot in self.connected_slots():
            self._note_gap(slot)
            header = self._guard(slot, lambda c: c.ping())
            if header is not None:
                self._record(slot, "ping", _header_data(header))
                self.last_zxid = max(self.last_zxid, header.zxid)

    def _poll_zxid(self, slots: list[int]) -> int | None:
        """Ping `slots` (keeping them alive); the highest zxid they report. Pings are not recorded."""
        best: int | None = None
        for slot in slots:
            self._note_gap(slot)
            header = self._guard(slot, lambda c: c.ping())
            if header is not None:
                best = header.zxid if best is None else max(best, header.zxid)
        return best

    def _note_gap(self, slot: int) -> None:
        """Remember when a session went unpinged for over half its timeout (the harness was slow)."""
        now = time.monotonic()
        last = self._last_ping.get(slot)
        self._last_ping[slot] = now
        timeout = self.slots[slot].negotiated_ms
        if last is not None and (now - last) * 1000 > timeout / 2:
            self.timing_notes.append(f"step {self._steps_run}: slot{slot} unpinged for "
                                     f"{(now - last) * 1000:.0f} ms (session timeout {timeout} ms)")

    def _drain(self, slot: int, client: WireClient) -> None:
        sess = self.slots.get(slot)
        for n in client.take_notifications():
            e = n.event
            if sess is not None:
                sess.watches.on_event(e.type, e.path or "")
            self._record(slot, "event", {"type": _event_name(e.type), "state": e.state, "path": e.path, "zxid": n.zxid})

    def _track_watches(self, sess: Session, opcode: int, record: Any, reply: Reply) -> None:
        # multiRead sub-ops never leave a watch behind: the Java client sends them with
        # watch=false and ZooKeeper drops the flag when it decodes them.
        if opcode not in (OpCode.MULTI, OpCode.MULTI_READ):
            sess.watches.on_reply(opcode, record, reply.header.err)

    def _record(self, slot: int, kind: str, data: dict[str, Any] | None = None) -> None:
        self._entries.append(Entry(slot, kind, data or {}))

    # ---- normalisation ------------------------------------------------------------

    def _label(self, session_id: int) -> str:
        if session_id == 0:
            return "0"
        if session_id not in self.labels:
            self.labels[session_id] = f"s{len(self.labels)}"
        return self.labels[session_id]

    def _connect_data(self, resp: ConnectResponse) -> dict[str, Any]:
        return {
            "protocolVersion": resp.protocolVersion,
            "timeOut": resp.timeOut,
            "session": self._label(resp.sessionId),
            "passwd": _passwd_shape(resp.passwd),
            "readOnly": resp.readOnly,
        }

    def _reply_data(self, reply: Reply) -> dict[str, Any]:
        h = reply.header
        data: dict[str, Any] = {"xid": h.xid, "zxid": h.zxid, "err": code_name(h.err)}
        if isinstance(reply.record, list):
            data["results"] = [self._multi_result(r) for r in reply.record]
        elif reply.record is not None:
            for name, value in self._norm_fields(reply.record).items():
                data[f"body_{name}" if name in data else name] = value  # ErrorResponse has an err too
        if reply.extra:
            data["undecoded_bytes"] = reply.extra
        return data

    def _multi_result(self, r: MultiResult) -> dict[str, Any]:
        out: dict[str, Any] = {"type": _op_name(r.type), "err": code_name(r.err)}
        if r.record is not None:
            body = self._norm_fields(r.record)
            if r.type == OpCode.ERROR:
                body = {"body_err": code_name(r.record.err)}
            out.update(body)
        return out

    def _norm_fields(self, record: Any) -> dict[str, Any]:
        return {f.name: self._norm(getattr(record, f.name), f.name) for f in fields(record)}

    def _norm(self, value: Any, name: str = "") -> Any:
        if isinstance(value, Stat):
            return self._norm_stat(value)
        if isinstance(value, ACL):
            return (value.perms, value.id.scheme, value.id.id)
        if isinstance(value, ClientInfo):
            return (value.authScheme, value.user)
        if isinstance(value, list):
            items = [self._norm(v) for v in value]
            return sorted(items) if name in UNORDERED_FIELDS else items
        if is_dataclass(value):
            return self._norm_fields(value)
        return value

    def _norm_stat(self, s: Stat) -> dict[str, Any]:
        return {
            "czxid": s.czxid,
            "mzxid": s.mzxid,
            "ctime": self._norm_time(s.ctime),
            "mtime": self._norm_time(s.mtime),
            "version": s.version,
            "cversion": s.cversion,
            "aversion": s.aversion,
            "ephemeralOwner": self._norm_owner(s.ephemeralOwner),
            "dataLength": s.dataLength,
            "numChildren": s.numChildren,
            "pzxid": s.pzxid,
        }

    def _norm_time(self, t: int) -> Any:
        if t == 0:
            return 0
        now = int(time.time() * 1000)
        if self.started_ms - DAY_MS <= t <= now + DAY_MS:
            return "~now"
        return t

    def _norm_owner(self, owner: int) -> Any:
        if owner in self.labels:
            return self.labels[owner]
        return owner  # 0, a container or TTL marker; a foreign session id shows up raw


def _merge(held: set[str], extra: tuple[str, ...]) -> list[str]:
    out = sorted(held)
    out += [p for p in dict.fromkeys(extra) if p not in held]
    return out


def _header_data(h: Any) -> dict[str, Any]:
    return {"xid": h.xid, "zxid": h.zxid, "err": code_name(h.err)}


def _passwd_shape(passwd: bytes) -> str:
    zero = "zero" if not any(passwd) else "nonzero"
    return f"{len(passwd)} bytes, {zero}"


def _failure_kind(e: WireError) -> str:
    if isinstance(e, ConnectionClosed):
        return "closed"
    if isinstance(e, ReplyTimeout):
        return "timeout"
    return "protocol-error"


def _op_name(opcode: int) -> str:
    try:
        return OpCode(opcode).name.lower()
    except ValueError:
        return str(opcode)


def _event_name(kind: int) -> str:
    try:
        return EventType(kind).name
    except ValueError:
        return str(kind)
