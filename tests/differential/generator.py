"""Seeded random request sequences that make ZooKeeper's corner cases collide often.

The path space is tiny (four names, depth <= 3) so creates, deletes and version
checks keep running into NODEEXISTS, NONODE, NOTEMPTY, BADVERSION and
NOCHILDRENFOREPHEMERALS. The generator is a pure function of its seed and of the
reference server's observations (which it reads to learn sequential node names and
versions), so a seed replays exactly as long as the reference behaves the same.

Session rules it keeps so that runs stay deterministic: at most one short-timeout
session exists at a time and it is always expired on purpose (never left to time out
on its own); a dropped long session is resumed within a few steps; at least one other
session stays connected while one expires, to watch the expiry happen.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from zkeeper.jute.records import (
    ACL,
    AddWatchRequest,
    CheckVersionRequest,
    CheckWatchesRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    ExistsRequest,
    GetACLRequest,
    GetAllChildrenNumberRequest,
    GetChildren2Request,
    GetChildrenRequest,
    GetDataRequest,
    GetEphemeralsRequest,
    Id,
    RemoveWatchesRequest,
    SetACLRequest,
    SetDataRequest,
    SyncRequest,
)
from zkeeper.types import OpCode

from .steps import AddAuth, Close, Disconnect, Entry, Expire, Open, Reconnect, Request, Resume, Step, Together

T = TypeVar("T")

NAMES = ("a", "b", "c", "é")
NAME_WEIGHTS = (4, 3, 1, 0.3)
DEPTH_WEIGHTS = {1: 5, 2: 4, 3: 2}
INVALID_PATHS = ("a", "/a/", "//a", "/a/./b", "/a/../b", "", "/a\x00b", "/\x01", "/a/\ue000")
SPECIAL_PATHS = ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "/zookeeper/x")
SEQUENTIAL_SUFFIXES = ("", "s", "a")
MAX_KNOWN = 48

LONG_TIMEOUTS_MS = (4000, 10000, 60000)  # 60000 is clamped by maxSessionTimeout
SHORT_TIMEOUTS_MS = (100, 400)  # 100 is raised to minSessionTimeout
SHORT_LIFETIME_STEPS = (1, 8)
DROPPED_LIFETIME_STEPS = (1, 8)

CREDENTIALS = {b"u1:p1": 3, b"u2:p2": 2, b"u1:wrong": 1}


def digest_id(user: str, password: str) -> str:
    """The `digest` scheme id of user:password, as DigestAuthenticationProvider makes it."""
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(raw).decode()}"


WORLD = Id("world", "anyone")
OPEN_ACL = [ACL(31, WORLD)]
ACL_CHOICES: dict[str, tuple[list[ACL] | None, float]] = {
    "open": (OPEN_ACL, 14),
    "world-read": ([ACL(1, WORLD)], 1),
    "world-rw": ([ACL(3, WORLD)], 0.7),
    "world-no-delete": ([ACL(23, WORLD)], 0.7),
    "creator-all": ([ACL(31, Id("auth", ""))], 1.5),
    "u1-all+world-read": ([ACL(31, Id("digest", digest_id("u1", "p1"))), ACL(1, WORLD)], 1.5),
    "u2-all": ([ACL(31, Id("digest", digest_id("u2", "p2")))], 1),
    "ip-local": ([ACL(31, Id("ip", "127.0.0.1"))], 0.5),
    "ip-elsewhere": ([ACL(31, Id("ip", "10.0.0.0/8")), ACL(1, WORLD)], 0.4),
    "duplicates": ([ACL(31, WORLD), ACL(31, WORLD)], 0.3),
    "empty": ([], 0.3),
    "null": (None, 0.2),
    "unknown-scheme": ([ACL(31, Id("foo", "bar"))], 0.3),
    "bad-digest-id": ([ACL(31, Id("digest", "nocolon"))], 0.2),
}
DATA_CHOICES: dict[bytes | None, float] = {b"": 2, b"x": 3, b"data": 2, b"\x00\xff": 1, None: 0.5, b"y" * 300: 0.5}


def _weighted(rng: random.Random, table: Mapping[T, float]) -> T:
    keys = list(table)
    return rng.choices(keys, weights=[table[k] for k in keys])[0]


@dataclass
class SlotState:
    status: str = "empty"  # empty | live | dropped (resume it) | lost (short: expire it) | dead
    short: bool = False
    due: int = 0  # the step by which a short session expires or a dropped one is resumed
    had_session: bool = False


class Generator:
    """`next_step()` gives the next step; `observe(step, reference_entries)` feeds back."""

    def __init__(self, seed: int, *, slots: int = 4, initial_sessions: int = 3) -> None:
        self.rng = random.Random(seed)
        self.slots = [SlotState() for _ in range(slots)]
        self.step_no = 0
        self.known: dict[str, None] = {}  # paths the reference last said exist, oldest first
        self.versions: dict[str, tuple[int, int, int]] = {}
        self._pending_opens = list(range(min(initial_sessions, slots)))

    # ---- the sequence -------------------------------------------------------------

    def next_step(self) -> Step:
        step = self._forced_step() or self._random_step()
        self.step_no += 1
        return step

    def observe(self, step: Step, entries: Sequence[Entry]) -> None:
        """Update what the client side knows from the reference server's observations."""
        if isinstance(step, Together):
            for request in step.requests:
                self._learn(request, [e for e in entries if e.slot == request.slot])
            self._note_lost_connections(entries)
            return
        mine = [e for e in entries if e.slot == step.slot]
        state = self.slots[step.slot]
        if isinstance(step, Open):
            ok = any(e.kind == "connect" and e.data.get("session") != "0" for e in mine)
            state.status = "live" if ok else "dead"
            state.had_session = state.had_session or ok
            state.short = state.short and ok
        elif isinstance(step, (Close, Expire)):
            state.status, state.short = "dead", False
        elif isinstance(step, Disconnect):
            state.status, state.due = "dropped", self.step_no + self.rng.randint(*DROPPED_LIFETIME_STEPS)
        elif isinstance(step, Reconnect):
            connects = [e for e in mine if e.kind == "connect"]
            ok = bool(connects) and connects[-1].data.get("session") != "0"
            state.status = "live" if ok else "dead"
        elif isinstance(step, Request):
            self._learn(step, mine)
        self._note_lost_connections(entries)

    def _note_lost_connections(self, entries: Sequence[Entry]) -> None:
        for e in entries:
            if e.kind in ("closed", "timeout", "protocol-error"):
                self._connection_lost(e.slot)

    # ---- forced steps keep sessions deterministic --------------------------------

    def _forced_step(self) -> Step | None:
        if self._pending_opens:
            return Open(self._pending_opens.pop(0), self.rng.choice(LONG_TIMEOUTS_MS))
        live = self._live()
        for i, s in enumerate(self.slots):
            if s.short and s.status in ("live", "lost") and s.due <= self.step_no:
                if [j for j in live if j != i]:
                    return Expire(i)
                return self._open_long_or_resume() or Expire(i)
        for i, s in enumerate(self.slots):
            if s.status == "dropped" and s.due <= self.step_no:
                return self._reconnect(i)
        if not live:
            return self._open_long_or_resume()
        return None

    def _open_long_or_resume(self) -> Step | None:
        for i, s in enumerate(self.slots):
            if s.status == "dropped":
                return self._reconnect(i)
        for i, s in enumerate(self.slots):
            if s.status in ("empty", "dead"):
                self.slots[i].short = False
                return Open(i, self.rng.choice(LONG_TIMEOUTS_MS))
        return None

    def _connection_lost(self, slot: int) -> None:
        s = self.slots[slot]
        if s.status != "live":
            return
        if s.short:
            s.status, s.due = "lost", self.step_no  # expire it right away: it will time out anyway
        else:
            s.status, s.due = "dropped", self.step_no

    def _live(self) -> list[int]:
        return [i for i, s in enumerate(self.slots) if s.status == "live"]

    # ---- random steps -------------------------------------------------------------

    def _random_step(self) -> Step:
        live = self._live()
        slot = self.rng.choice(live)
        makers: dict[Callable[[int], Step | None], float] = {
            self._create: 20,
            self._delete: 9,
            self._exists: 7,
            self._get_data: 7,
            self._set_data: 9,
            self._get_acl: 3,
            self._set_acl: 4,
            self._get_children: 5,
            self._get_children2: 4,
            self._sync: 2,
            self._multi: 9,
            self._multi_read: 3,
            self._check_watches: 2,
            self._remove_watches: 2,
            self._get_ephemerals: 2,
            self._all_children_number: 2,
            self._who_am_i: 1,
            self._add_watch: 3,
            self._add_auth: 2,
            self._together: 2,
            self._open: 2.5,
            self._close: 1,
            self._disconnect: 1.5,
            self._resume: 0.7,
        }
        for _ in range(100):
            step = _weighted(self.rng, makers)(slot)
            if step is not None:
                return step
        return Request(slot, OpCode.WHO_AM_I)

    def _together(self, slot: int) -> Step | None:
        """A write on one session directly followed by a read on another (which may watch it)."""
        others = [i for i in self._live() if i != slot]
        if not others:
            return None
        write = _weighted(self.rng, {self._set_data: 3, self._create: 2, self._delete: 2, self._multi: 1})(slot)
        read = _weighted(self.rng, {self._get_data: 2, self._exists: 1, self._get_children2: 1})(self.rng.choice(others))
        assert isinstance(write, Request) and isinstance(read, Request)
        return Together((write, read))

    # session steps: None when they do not apply right now

    def _open(self, _slot: int) -> Step | None:
        free = [i for i, s in enumerate(self.slots) if s.status in ("empty", "dead")]
        if not free:
            return None
        slot = self.rng.choice(free)
        short = not any(s.short for s in self.slots) and self.rng.random() < 0.45
        self.slots[slot].short = short
        if short:
            self.slots[slot].due = self.step_no + self.rng.randint(*SHORT_LIFETIME_STEPS)
            return Open(slot, self.rng.choice(SHORT_TIMEOUTS_MS))
        return Open(slot, self.rng.choice(LONG_TIMEOUTS_MS))

    def _close(self, slot: int) -> Step | None:
        return Close(slot) if len(self._live()) >= 2 else None

    def _disconnect(self, slot: int) -> Step | None:
        if self.slots[slot].short or len(self._live()) < 2:
            return None
        return Disconnect(slot)

    def _resume(self, _slot: int) -> Step | None:
        dead = [i for i, s in enumerate(self.slots) if s.status == "dead" and s.had_session]
        return Resume(self.rng.choice(dead)) if dead else None

    def _reconnect(self, slot: int) -> Reconnect:
        rng = self.rng
        extras = [tuple(self._path() for _ in range(rng.randint(0, 2))) if rng.random() < 0.3 else ()
                  for _ in range(3)]
        return Reconnect(
            slot,
            bad_password_first=rng.random() < 0.15,
            prefer_set_watches2=rng.random() < 0.3,
            rewind_zxid=rng.choice((0, 0, 0, 1, 3, 10)),
            extra_data=extras[0],
            extra_exist=extras[1],
            extra_child=extras[2],
        )

    # requests

    def _create(self, slot: int) -> Step:
        rng = self.rng
        opcode = _weighted(rng, {OpCode.CREATE: 4, OpCode.CREATE2: 3, OpCode.CREATE_CONTAINER: 1, OpCode.CREATE_TTL: 1.5})
        flags = self._create_flags(opcode)
        path = self._create_path(flags)
        data, acl = _weighted(rng, DATA_CHOICES), self._acl()
        if opcode == OpCode.CREATE_TTL:
            ttl = self._ttl()
            if ttl < 0 and flags not in (5, 6):
                # Apache ZooKeeper 3.8 accepts this in prep and then dies applying it
                # ("unrecoverable error"); zkeeper answers BADARGUMENTS instead.
                ttl = 1000
            return Request(slot, opcode, CreateTTLRequest(path, data, acl, flags, ttl))
        return Request(slot, opcode, CreateRequest(path, data, acl, flags))

    def _delete(self, slot: int) -> Step:
        path = self._path()
        return Request(slot, OpCode.DELETE, DeleteRequest(path, self._version(path, 0)))

    def _exists(self, slot: int) -> Step:
        return Request(slot, OpCode.EXISTS, ExistsRequest(self._read_path(), self._watch()))

    def _get_data(self, slot: int) -> Step:
        return Request(slot, OpCode.GET_DATA, GetDataRequest(self._read_path(), self._watch()))

    def _set_data(self, slot: int) -> Step:
        path = self._path()
        data = _weighted(self.rng, DATA_CHOICES)
        return Request(slot, OpCode.SET_DATA, SetDataRequest(path, data, self._version(path, 0)))

    def _get_acl(self, slot: int) -> Step:
        return Request(slot, OpCode.GET_ACL, GetACLRequest(self._read_path()))

    def _set_acl(self, slot: int) -> Step:
        path = self._path()
        if path == "/":
            path = "/a"  # a locked-down root would end the interesting part of the run
        return Request(slot, OpCode.SET_ACL, SetACLRequest(path, self._acl(), self._version(path, 2)))

    def _get_children(self, slot: int) -> Step:
        return Request(slot, OpCode.GET_CHILDREN, GetChildrenRequest(self._read_path(), self._watch()))

    def _get_children2(self, slot: int) -> Step:
        return Request(slot, OpCode.GET_CHILDREN2, GetChildren2Request(self._read_path(), self._watch()))

    def _sync(self, slot: int) -> Step:
        return Request(slot, OpCode.SYNC, SyncRequest(self._read_path()))

    def _multi(self, slot: int) -> Step:
        """Half the time a multi built to succeed (fresh children, current versions), else random."""
        rng = self.rng
        friendly = rng.random() < 0.5
        count = _weighted(rng, {0: 0.3, 1: 2, 2: 3, 3: 2, 4: 1})
        ops: list[tuple[int, Any]] = []
        for _ in range(count):
            kind = _weighted(rng, {"create": 4, "delete": 2, "setData": 3, "check": 3})
            path = rng.choice(list(self.known)) if friendly and self.known else self._path()
            version = self._version(path, 0)
            if friendly:
                version = _weighted(rng, {-1: 1, self.versions.get(path, (-1,))[0]: 2})
            if kind == "create":
                opcode = _weighted(rng, {OpCode.CREATE: 4, OpCode.CREATE2: 2, OpCode.CREATE_TTL: 0.5,
                                         OpCode.CREATE_CONTAINER: 0.5})
                flags = self._create_flags(opcode)
                path = self._create_path(flags)
                data = _weighted(rng, DATA_CHOICES)
                acl = OPEN_ACL if friendly else self._acl()
                if opcode == OpCode.CREATE_TTL:
                    ops.append((opcode, CreateTTLRequest(path, data, acl, flags, 1000 if friendly else self._ttl())))
                else:
                    ops.append((opcode, CreateRequest(path, data, acl, flags)))
            elif kind == "delete":
                ops.append((OpCode.DELETE, DeleteRequest(path, version)))
            elif kind == "setData":
                ops.append((OpCode.SET_DATA, SetDataRequest(path, _weighted(rng, DATA_CHOICES), version)))
            else:
                ops.append((OpCode.CHECK, CheckVersionRequest(path, version)))
        return Request(slot, OpCode.MULTI, ops)

    def _multi_read(self, slot: int) -> Step:
        ops: list[tuple[int, Any]] = []
        for _ in range(self.rng.randint(1, 3)):
            watch = self.rng.random() < 0.15
            if self.rng.random() < 0.5:
                ops.append((OpCode.GET_DATA, GetDataRequest(self._read_path(), watch)))
            else:
                ops.append((OpCode.GET_CHILDREN, GetChildrenRequest(self._read_path(), watch)))
        return Request(slot, OpCode.MULTI_READ, ops)

    def _check_watches(self, slot: int) -> Step:
        return Request(slot, OpCode.CHECK_WATCHES, CheckWatchesRequest(self._path(), self._watcher_type()))

    def _remove_watches(self, slot: int) -> Step:
        return Request(slot, OpCode.REMOVE_WATCHES, RemoveWatchesRequest(self._path(), self._watcher_type()))

    def _get_ephemerals(self, slot: int) -> Step:
        path = self._path()
        # The prefix is a plain string prefix, trimmed the Java way: also send odd ones.
        prefix = _weighted(self.rng, {"/": 3, "": 0.5, path: 3, path[:-1] or "/": 1, " ": 0.3, "/\x01": 0.3,
                                      f" {path}": 0.2, f"{path}\t": 0.2})
        return Request(slot, OpCode.GET_EPHEMERALS, GetEphemeralsRequest(prefix))

    def _all_children_number(self, slot: int) -> Step:
        return Request(slot, OpCode.GET_ALL_CHILDREN_NUMBER, GetAllChildrenNumberRequest(self._read_path()))

    def _who_am_i(self, slot: int) -> Step:
        return Request(slot, OpCode.WHO_AM_I)

    def _add_watch(self, slot: int) -> Step:
        mode = _weighted(self.rng, {0: 3, 1: 3, 2: 0.1})
        return Request(slot, OpCode.ADD_WATCH, AddWatchRequest(self._read_path(), mode))

    def _add_auth(self, slot: int) -> Step:
        """Mostly digest; rarely ip (always succeeds) or an unknown scheme (AUTHFAILED, and
        the server drops the connection)."""
        scheme = _weighted(self.rng, {"digest": 20, "ip": 1, "nosuch": 0.5})
        return AddAuth(slot, scheme, _weighted(self.rng, CREDENTIALS))

    # ---- arguments ----------------------------------------------------------------

    def _path(self) -> str:
        """A path that likely exists about half of the time, else one from the small pool."""
        r = self.rng.random()
        if r < 0.02:
            return self.rng.choice(INVALID_PATHS)
        if r < 0.03:
            return self.rng.choice(SPECIAL_PATHS)
        if r < 0.5 and self.known:
            return self.rng.choice(list(self.known))
        return self._pool_path()

    def _pool_path(self) -> str:
        depth = _weighted(self.rng, DEPTH_WEIGHTS)
        return "/" + "/".join(self.rng.choices(NAMES, weights=NAME_WEIGHTS, k=depth))

    def _read_path(self) -> str:
        r = self.rng.random()
        if r < 0.03:
            return "/"
        if r < 0.04:
            return "/zookeeper"
        return self._path()

    def _create_path(self, flags: int) -> str:
        """Often a new child of a node that likely exists, so that creates succeed."""
        rng = self.rng
        parents = [p for p in self.known if p.count("/") < 3]
        if rng.random() < 0.15:
            parent = ""
        elif rng.random() < 0.6 and parents:
            parent = rng.choice(parents)
        else:
            parent = self._path() if flags in (2, 3, 6) else self._path().rpartition("/")[0]
        if flags in (2, 3, 6):
            return f"{parent}/{rng.choice(SEQUENTIAL_SUFFIXES)}"
        return f"{parent}/{rng.choices(NAMES, weights=NAME_WEIGHTS)[0]}"

    def _create_flags(self, opcode: int) -> int:
        if opcode == OpCode.CREATE_CONTAINER:
            return _weighted(self.rng, {4: 5, 0: 0.5})
        if opcode == OpCode.CREATE_TTL:
            return _weighted(self.rng, {5: 3, 6: 2, 0: 0.4, 1: 0.3})
        return _weighted(self.rng, {0: 4, 1: 3, 2: 2, 3: 2, 4: 0.3, 5: 0.3, 6: 0.2, 7: 0.1})

    def _ttl(self) -> int:
        return _weighted(self.rng, {1000: 3, 60000: 1, 1: 0.5, 0: 0.4, -5: 0.2, 2**40: 0.3})

    def _acl(self) -> list[ACL] | None:
        name = _weighted(self.rng, {k: w for k, (_, w) in ACL_CHOICES.items()})
        return ACL_CHOICES[name][0]

    def _watch(self) -> bool:
        return self.rng.random() < 0.5

    def _watcher_type(self) -> int:
        return _weighted(self.rng, {1: 3, 2: 3, 3: 3, 4: 0.2, 5: 0.2})

    def _version(self, path: str, index: int) -> int:
        """-1, the version last seen (likely right), one past it (likely wrong) or a guess."""
        known = self.versions.get(path)
        r = self.rng.random()
        if r < 0.35:
            return -1
        if known is not None and r < 0.7:
            return known[index]
        if known is not None and r < 0.85:
            return known[index] + 1
        return self.rng.randint(0, 3)

    # ---- learning from the reference ----------------------------------------------

    def _learn(self, step: Request, mine: list[Entry]) -> None:
        replies = [e for e in mine if e.kind == "reply"]
        if not replies:
            return
        data = replies[-1].data
        err = data.get("err")
        path = getattr(step.record, "path", None)
        creates = (OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_TTL, OpCode.CREATE_CONTAINER)
        if step.opcode in creates and err == "NODEEXISTS":
            self._exists_now(path)
        if err == "NONODE" and isinstance(path, str):
            self._gone(path)
        if err != "OK":
            return
        if step.opcode in creates:
            path = data.get("path")
            self._exists_now(path)
        elif step.opcode == OpCode.DELETE and isinstance(path, str):
            self._gone(path)
        elif step.opcode == OpCode.MULTI:
            self._learn_multi(step.record, data.get("results", []))
        elif step.opcode in (OpCode.EXISTS, OpCode.GET_DATA, OpCode.SET_DATA, OpCode.GET_ACL, OpCode.SET_ACL,
                             OpCode.GET_CHILDREN, OpCode.GET_CHILDREN2):
            self._exists_now(path)
        if step.opcode in (OpCode.GET_CHILDREN, OpCode.GET_CHILDREN2) and isinstance(path, str):
            for child in data.get("children", []):
                self._exists_now(f"{path.rstrip('/')}/{child}")
        stat = data.get("stat")
        if isinstance(path, str) and isinstance(stat, dict):
            self.versions[path] = (stat["version"], stat["cversion"], stat["aversion"])

    def _learn_multi(self, ops: list[tuple[int, Any]], results: list[dict[str, Any]]) -> None:
        if any(r.get("type") == "error" for r in results):
            return  # a failed multi changes nothing
        for (opcode, record), result in zip(ops, results):
            if "path" in result:
                self._exists_now(result["path"])
            elif opcode == OpCode.DELETE:
                self._gone(record.path)

    def _exists_now(self, path: Any) -> None:
        if not isinstance(path, str) or not path.startswith("/") or path == "/" or path.startswith("/zookeeper"):
            return
        self.known.pop(path, None)
        self.known[path] = None
        if len(self.known) > MAX_KNOWN:
            del self.known[next(iter(self.known))]

    def _gone(self, path: str) -> None:
        for p in [p for p in self.known if p == path or p.startswith(path + "/")]:
            del self.known[p]
