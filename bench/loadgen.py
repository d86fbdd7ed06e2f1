"""The load generator: worker processes, each driving many pipelined sessions.

Each worker process (multiprocessing, fork) opens its share of the sessions, keeps
`inflight` requests outstanding on every one of them, and for every reply that comes
back sends the next pre-encoded request. The hot loop is a bare `epoll` loop over
blocking sockets (a socket is read only when epoll says it is readable; a session
never has more than `inflight` small requests unsent, so writes never block for long):
per reply it unpacks the 16-byte reply header, checks the xid (ZooKeeper answers a
session in order), counts errors and records the latency, so the client side costs a
few microseconds per request.

Timeline of a timed run (all processes share CLOCK_MONOTONIC):
  t_start .. t_measure   warm-up: requests flow, nothing is recorded
  t_measure .. t_end     measured: replies received in the window count towards
                         throughput; requests sent in the window give latency samples
  t_end .. drain         no new requests; every outstanding one must be answered before
                         the drain deadline, or it counts as an error

Everything is bounded: connect, ready, run and drain each have a deadline, and the
parent terminates (only) its own worker processes if one overstays.
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import select
import socket
import struct
import time
from array import array
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable

import zkwire
from zkwire import CLOSE_TAIL, HOST, LEN, PING_FRAME, PREFIX, REPLY, connect_frame, parse_connect

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERR = select.EPOLLERR | select.EPOLLHUP
CONNECT_PENDING_MAX = 64      # concurrent handshakes per worker (listen backlogs are small)
RECV_SIZE = 1 << 18


# ---- worker side ---------------------------------------------------------------------

class Conn:
    __slots__ = ("sock", "fd", "buf", "sent", "xid", "i", "cycle", "n", "gen", "limit", "sid",
                 "notified", "last_io", "alive")

    def __init__(self, sock: socket.socket, sid: int) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = b""
        self.sent: deque[int] = deque()
        self.xid = 1
        self.i = 0
        self.cycle: list[bytes] = []
        self.n = 1
        self.gen: Callable[[int], bytes] | None = None
        self.limit = -1          # requests to send in total; -1 = until t_end
        self.sid = sid
        self.notified = 0        # monotonic ns of the watch notification (storm)
        self.last_io = 0.0
        self.alive = True


def open_sessions(port: int, n: int, deadline: float, errors: Counter[str]) -> list[Conn]:
    """Open `n` sessions with at most CONNECT_PENDING_MAX handshakes in flight."""
    ep = select.epoll()
    pending: dict[int, list[Any]] = {}
    conns: list[Conn] = []
    hello = connect_frame()
    to_open = n
    try:
        while (to_open or pending) and time.monotonic() < deadline:
            while to_open and len(pending) < CONNECT_PENDING_MAX:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                rc = s.connect_ex((HOST, port))
                if rc not in (0, errno.EINPROGRESS):
                    errors[f"connect: {os.strerror(rc)}"] += 1
                    s.close()
                    to_open -= 1
                    continue
                ep.register(s.fileno(), EPOLLOUT)
                pending[s.fileno()] = [s, b"", False]
                to_open -= 1
            for fd, ev in ep.poll(0.1):
                entry = pending[fd]
                s = entry[0]
                if not entry[2]:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        errors[f"connect: {os.strerror(err)}"] += 1
                        ep.unregister(fd)
                        del pending[fd]
                        s.close()
                        continue
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    s.send(hello)  # 49 bytes into an empty send buffer
                    entry[2] = True
                    ep.modify(fd, EPOLLIN)
                    continue
                try:
                    data = s.recv(4096)
                except OSError as e:
                    data = b""
                    errors[f"handshake: {e.strerror}"] += 1
                if not data:
                    errors["handshake: connection closed"] += 1
                    ep.unregister(fd)
                    del pending[fd]
                    s.close()
                    continue
                entry[1] += data
                buf = entry[1]
                if len(buf) >= 4 and len(buf) - 4 >= LEN.unpack_from(buf, 0)[0]:
                    (ln,) = LEN.unpack_from(buf, 0)
                    sid, _ = parse_connect(buf[4:4 + ln])
                    ep.unregister(fd)
                    del pending[fd]
                    if sid == 0:
                        errors["handshake: session refused"] += 1
                        s.close()
                        continue
                    s.setblocking(True)
                    c = Conn(s, sid)
                    c.buf = buf[4 + ln:]
                    c.last_io = time.monotonic()
                    conns.append(c)
        for entry in pending.values():
            errors["handshake: timeout"] += 1
            entry[0].close()
        errors["connect: not attempted (deadline)"] += to_open
        if errors["connect: not attempted (deadline)"] == 0:
            del errors["connect: not attempted (deadline)"]
    finally:
        ep.close()
    return conns


def close_sessions(conns: list[Conn], deadline: float) -> None:
    """closeSession on every live session, wait (bounded) for the server to answer/close."""
    ep = select.epoll()
    live: dict[int, Conn] = {}
    for c in conns:
        if not c.alive:
            continue
        try:
            c.sock.sendall(PREFIX.pack(len(CLOSE_TAIL) + 4, c.xid) + CLOSE_TAIL)
            ep.register(c.fd, EPOLLIN)
            live[c.fd] = c
        except OSError:
            c.sock.close()
    try:
        while live and time.monotonic() < deadline:
            for fd, _ in ep.poll(0.1):
                c = live[fd]
                try:
                    data = c.sock.recv(RECV_SIZE)
                except OSError:
                    data = b""
                if not data:
                    ep.unregister(fd)
                    del live[fd]
                    c.sock.close()
    finally:
        ep.close()
        for c in live.values():
            c.sock.close()


def _send_next(c: Conn, k: int, now_ns: int) -> None:
    """Send the next k requests of this session in one write."""
    parts = []
    cycle, n, gen = c.cycle, c.n, c.gen
    sent_append = c.sent.append
    pack = PREFIX.pack
    for _ in range(k):
        if c.limit >= 0 and c.i >= c.limit:
            break
        tail = cycle[c.i % n] if gen is None else gen(c.i)
        parts.append(pack(len(tail) + 4, c.xid) + tail)
        sent_append(now_ns)
        c.xid += 1
        c.i += 1
    if parts:
        c.sock.sendall(b"".join(parts))


def drive(conns: list[Conn], inflight: int, t_start: float, t_measure: float, t_end: float,
          drain_deadline: float) -> dict[str, Any]:
    """The hot loop of a timed (or count-bounded) run over already-open sessions."""
    errors: Counter[str] = Counter()
    lat = array("q")
    lat_append = lat.append
    unpack_len = LEN.unpack_from
    unpack_reply = REPLY.unpack_from
    now_ns = time.monotonic_ns
    m_ns = int(t_measure * 1e9)
    e_ns = int(t_end * 1e9)
    counted = 0
    by_fd = {c.fd: c for c in conns}
    ep = select.epoll()
    for c in conns:
        ep.register(c.fd, EPOLLIN)
    while time.monotonic() < t_start:
        time.sleep(min(0.01, max(0.0, t_start - time.monotonic())))
    cpu0 = os.times()
    t0 = now_ns()
    for c in conns:
        _send_next(c, inflight, t0)
    outstanding = sum(len(c.sent) for c in conns)
    sending = True
    try:
        while True:
            if sending and time.monotonic() >= t_end:
                sending = False
            if not sending or all(c.limit >= 0 and c.i >= c.limit for c in by_fd.values()):
                if outstanding == 0:
                    break
                if time.monotonic() >= drain_deadline:
                    errors["unanswered at drain deadline"] += outstanding
                    break
            events = ep.poll(0.05)
            if not events:
                continue
            for fd, ev in events:
                c = by_fd[fd]
                try:
                    data = c.sock.recv(RECV_SIZE)
                except OSError as e:
                    data = b""
                    errors[f"recv: {e.strerror}"] += 1
                if not data:
                    errors["connection closed by server"] += 1
                    errors["unanswered (connection lost)"] += len(c.sent)
                    outstanding -= len(c.sent)
                    c.sent.clear()
                    c.alive = False
                    ep.unregister(fd)
                    del by_fd[fd]
                    c.sock.close()
                    continue
                buf = c.buf + data if c.buf else data
                tnow = now_ns()
                pos = 0
                size = len(buf)
                done = 0
                sent = c.sent
                while size - pos >= 4:
                    (ln,) = unpack_len(buf, pos)
                    if size - pos - 4 < ln:
                        break
                    xid, _zxid, err = unpack_reply(buf, pos + 4)
                    pos += 4 + ln
                    if xid < 0:
                        continue  # notification or ping reply
                    ts = sent.popleft()
                    done += 1
                    if err:
                        errors[f"error code {err}"] += 1
                    if ts >= m_ns:
                        lat_append(tnow - ts)
                    if m_ns <= tnow <= e_ns:
                        counted += 1
                c.buf = buf[pos:] if pos < size else b""
                if done:
                    outstanding -= done
                    if sending:
                        before = len(sent)
                        _send_next(c, done, tnow)
                        outstanding += len(sent) - before
    finally:
        ep.close()
    cpu1 = os.times()
    return {
        "counted": counted,
        "errors": errors,
        "lat": lat.tobytes(),
        "cpu": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
        "wall": (now_ns() - t0) / 1e9,
        "sent": sum(c.i for c in conns),
    }


def wait_storm(conns: list[Conn], watch_tail: bytes, report: Callable[[dict[str, Any]], None],
               deadline: float) -> dict[str, Any]:
    """Set a data watch on every session, report ready, then collect the notifications."""
    errors: Counter[str] = Counter()
    by_fd = {c.fd: c for c in conns}
    ep = select.epoll()
    for c in conns:
        ep.register(c.fd, EPOLLIN)
    waiting_reply = set()
    for c in conns:
        c.sock.sendall(PREFIX.pack(len(watch_tail) + 4, c.xid) + watch_tail)
        c.xid += 1
        waiting_reply.add(c.fd)
    unnotified = len(conns)
    ready_sent = False
    last_ping_check = time.monotonic()
    try:
        while unnotified and time.monotonic() < deadline:
            if not waiting_reply and not ready_sent:
                report({"ready": len(conns)})
                ready_sent = True
            now = time.monotonic()
            if now - last_ping_check > 1.0:
                last_ping_check = now
                for c in by_fd.values():
                    if now - c.last_io > 8.0:  # session timeout is 30 s: ping when idle
                        c.sock.sendall(PING_FRAME)
                        c.last_io = now
            for fd, _ in ep.poll(0.05):
                c = by_fd[fd]
                try:
                    data = c.sock.recv(RECV_SIZE)
                except OSError:
                    data = b""
                tnow = time.monotonic_ns()
                if not data:
                    errors["connection closed by server"] += 1
                    c.alive = False
                    ep.unregister(fd)
                    del by_fd[fd]
                    waiting_reply.discard(fd)
                    if not c.notified:
                        unnotified -= 1
                    c.sock.close()
                    continue
                buf = c.buf + data if c.buf else data
                pos = 0
                while len(buf) - pos >= 4:
                    (ln,) = LEN.unpack_from(buf, pos)
                    if len(buf) - pos - 4 < ln:
                        break
                    xid, _, err = REPLY.unpack_from(buf, pos + 4)
                    pos += 4 + ln
                    if xid == zkwire.NOTIFICATION_XID:
                        if not c.notified:
                            c.notified = tnow
                            unnotified -= 1
                    elif xid > 0:
                        waiting_reply.discard(fd)
                        if err:
                            errors[f"error code {err}"] += 1
                c.buf = buf[pos:]
                c.last_io = time.monotonic()
    finally:
        ep.close()
    if not ready_sent:
        report({"ready": len(conns) - len(waiting_reply)})
    missing = sum(1 for c in conns if not c.notified)
    if missing:
        errors["watch notification not received"] += missing
    return {"errors": errors, "notified": [c.notified for c in conns if c.notified]}


@dataclass
class WorkerJob:
    port: int
    sessions: list[int]                   # global session indices for this worker
    mode: str                             # "timed", "count" or "storm"
    inflight: int = 32
    cycles: dict[int, list[bytes]] = field(default_factory=dict)   # per global session
    gens: dict[int, tuple[Callable[[int], bytes], int]] = field(default_factory=dict)
    watch_tail: bytes = b""
    cpus: set[int] | None = None
    connect_timeout: float = 60.0
    storm_timeout: float = 120.0


def worker_main(pipe: Any, job: WorkerJob) -> None:
    if job.cpus:
        os.sched_setaffinity(0, job.cpus)
    zkwire.raise_nofile()
    errors: Counter[str] = Counter()
    conns = open_sessions(job.port, len(job.sessions), time.monotonic() + job.connect_timeout, errors)
    for c, g in zip(conns, job.sessions):
        if g in job.cycles:
            c.cycle = job.cycles[g]
            c.n = len(c.cycle)
        if g in job.gens:
            c.gen, c.limit = job.gens[g]
    result: dict[str, Any]
    try:
        if job.mode == "storm":
            result = wait_storm(conns, job.watch_tail, pipe.send, time.monotonic() + job.storm_timeout)
        else:
            pipe.send({"ready": len(conns)})
            if not pipe.poll(job.connect_timeout + 60):
                raise TimeoutError("no start signal from the runner")
            go = pipe.recv()
            if go.get("abort"):
                result = {"errors": Counter(), "counted": 0, "lat": b"", "cpu": 0.0, "wall": 0.0, "sent": 0}
            else:
                result = drive(conns, job.inflight, go["t_start"], go["t_measure"], go["t_end"],
                               go["drain_deadline"])
    finally:
        close_sessions(conns, time.monotonic() + 15)
    result["errors"].update(errors)
    result["sessions"] = len(conns)
    pipe.send({"result": result})
    pipe.close()


# ---- runner side ---------------------------------------------------------------------

@dataclass
class LoadResult:
    sessions: int
    ops: int = 0                       # replies counted in the measured window
    seconds: float = 0.0               # measured window
    lat_ns: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    gen_cpu: float = 0.0               # generator CPU seconds during the run
    gen_wall: float = 0.0
    server_cpu: float | None = None    # server CPU seconds during the measured window
    busy_cpu: float | None = None      # whole-machine busy CPU seconds during the window
    sent: int = 0
    notified: list[int] = field(default_factory=list)
    trigger_ns: int = 0

    @property
    def throughput(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float | None:
        if not self.lat_ns:
            return None
        i = min(len(self.lat_ns) - 1, int(q * len(self.lat_ns)))
        return self.lat_ns[i] / 1e6

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _spawn(jobs: list[WorkerJob]) -> tuple[list[Any], list[Any]]:
    ctx = mp.get_context("fork")
    procs, pipes = [], []
    for job in jobs:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, args=(child, job), daemon=True)
        p.start()
        child.close()
        procs.append(p)
        pipes.append(parent)
    return procs, pipes


def _recv(pipe: Any, deadline: float) -> dict[str, Any] | None:
    left = deadline - time.monotonic()
    if left > 0 and pipe.poll(left):
        try:
            return pipe.recv()
        except EOFError:
            return None
    return None


def _reap(procs: list[Any]) -> None:
    for p in procs:
        p.join(timeout=20)
        if p.is_alive():
            p.terminate()   # our own worker, by its Process handle
            p.join(timeout=5)


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (all CPUs, /proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def split(n_sessions: int, n_workers: int) -> list[list[int]]:
    n_workers = max(1, min(n_workers, n_sessions))
    return [list(range(w, n_sessions, n_workers)) for w in range(n_workers)]


def run_timed(port: int, n_sessions: int, n_workers: int, cycles: dict[int, list[bytes]], *,
              inflight: int, duration: float, warmup: float, cpus: set[int] | None,
              server_cpu: Callable[[], float] | None = None, drain: float = 15.0,
              mode: str = "timed", gens: dict[int, tuple[Callable[[int], bytes], int]] | None = None,
              on_start: Callable[[], None] | None = None) -> LoadResult:
    """Open `n_sessions` across worker processes and run one workload (timed or count-bounded)."""
    jobs = [WorkerJob(port, s, mode, inflight, {g: cycles[g] for g in s if g in cycles},
                      {g: gens[g] for g in s if gens and g in gens}, cpus=cpus)
            for s in split(n_sessions, n_workers)]
    procs, pipes = _spawn(jobs)
    res = LoadResult(n_sessions)
    try:
        ready_deadline = time.monotonic() + jobs[0].connect_timeout + 15
        opened = 0
        for p in pipes:
            msg = _recv(p, ready_deadline)
            if msg is None or "ready" not in msg:
                raise RuntimeError("a load worker did not get ready in time")
            opened += msg["ready"]
        t_start = time.monotonic() + 0.1
        t_measure = t_start + warmup
        t_end = t_measure + duration
        drain_deadline = t_end + drain
        for p in pipes:
            p.send({"t_start": t_start, "t_measure": t_measure, "t_end": t_end,
                    "drain_deadline": drain_deadline})
        if on_start:
            on_start()
        cpu0 = cpu1 = None
        if server_cpu and mode == "timed":
            time.sleep(max(0.0, t_measure - time.monotonic()))
            cpu0, busy0 = server_cpu(), machine_busy()
            time.sleep(max(0.0, t_end - time.monotonic()))
            cpu1, busy1 = server_cpu(), machine_busy()
            res.busy_cpu = busy1 - busy0
        lat_all = array("q")
        for p in pipes:
            msg = _recv(p, drain_deadline + 30)
            if msg is None:
                res.errors["worker lost"] += 1
                continue
            r = msg["result"]
            res.ops += r["counted"]
            res.errors.update(r["errors"])
            lat_all.frombytes(r["lat"])
            res.gen_cpu += r["cpu"]
            res.gen_wall = max(res.gen_wall, r["wall"])
            res.sent += r["sent"]
        res.seconds = duration if mode == "timed" else res.gen_wall
        if mode != "timed":
            res.ops = res.sent
        res.lat_ns = sorted(lat_all)
        if cpu0 is not None and cpu1 is not None:
            res.server_cpu = cpu1 - cpu0
        if opened < n_sessions:
            res.errors["sessions not opened"] += n_sessions - opened
    finally:
        for p in pipes:
            p.close()
        _reap(procs)
    return res


def run_storm(port: int, n_sessions: int, n_workers: int, watch_tail: bytes,
              trigger: Callable[[], int], cpus: set[int] | None, timeout: float = 180.0) -> LoadResult:
    """n sessions each set a data watch; `trigger()` does the single write and returns its
    monotonic_ns send time; the result holds every notification's arrival time."""
    jobs = [WorkerJob(port, s, "storm", watch_tail=watch_tail, cpus=cpus, storm_timeout=timeout)
            for s in split(n_sessions, n_workers)]
    procs, pipes = _spawn(jobs)
    res = LoadResult(n_sessions)
    try:
        deadline = time.monotonic() + timeout
        ready = 0
        for p in pipes:
            msg = _recv(p, deadline)
            if msg is None or "ready" not in msg:
                raise RuntimeError("a storm worker did not get ready in time")
            ready += msg["ready"]
        if ready < n_sessions:
            res.errors["sessions without a watch"] += n_sessions - ready
        res.trigger_ns = trigger()
        for p in pipes:
            msg = _recv(p, deadline + 30)
            if msg is None:
                res.errors["worker lost"] += 1
                continue
            r = msg["result"]
            res.errors.update(r["errors"])
            res.notified.extend(r["notified"])
    finally:
        for p in pipes:
            p.close()
        _reap(procs)
    res.notified.sort()
    return res


def create_gen(prefix: str, data: bytes) -> Callable[[int], bytes]:
    """Tails of create(prefix/NNNNNNN, data) built without the codec (bulk loading)."""
    head = struct.pack(">i", 1)
    base = zkwire.create("/x", data)
    post = base[4 + 4 + 2:]          # after opcode, path length and "/x": data, acl, flags
    pre = (prefix + "/").encode()

    def gen(i: int) -> bytes:
        p = pre + b"%07d" % i
        return head + LEN.pack(len(p)) + p + post

    return gen
