"""Golden traces for zab.Election, in the manner of etcd-raft's datadriven tests.

A trace file is a script: lines starting with `> ` are commands, the lines after each
one are what it must print. Set ZKEEPER_UPDATE_GOLDEN=1 to rewrite the expectations
from the current behaviour (then read the diff!). Messages sit in one FIFO queue until a
`deliver` command hands them over, so every interleaving in a trace is chosen on purpose.

Commands (times are absolute ms, `@t`):
  servers voters=1,2,3 [observers=4] [finalize=200 min=200 max=60000]   (a fresh ensemble)
  data SID epoch=E zxid=Z          the server's current epoch and last zxid (before start)
  start SID... @t                  begin a round (again)
  deliver [N | all] [only=A>B,...] [drop=A>B,...] @t
                                   hand over the first N queued messages (default: those
                                   queued now; `all`: until the queue is empty)
  drop A>B,...                     lose the queued messages on those links
  send FROM>TO STATE leader=L zxid=Z round=R epoch=E @t
                                   a notification from a server outside the script
  tick SID... @t
  update_epoch SID E               the server settled its new epoch (updateElectionVote)
  state                            every server's state, round, proposal and next wake
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from zkeeper.zab.election import Election, ElectionTiming, Ready
from zkeeper.zab.quorum import QuorumMaj
from zkeeper.zab.vote import JAVA_LONG_MIN, Notification, ServerState, Vote

TRACES = Path(__file__).parent / "traces"


def fmt_vote(v: Vote) -> str:
    if v.leader == JAVA_LONG_MIN:
        return "(none)"
    return f"({v.leader}, 0x{v.zxid:x}, {v.peer_epoch})"


def fmt_notification(n: Notification) -> str:
    return f"{n.state.name} {fmt_vote(n.vote)} round={n.election_epoch}"


@dataclass
class World:
    quorum: QuorumMaj | None = None
    timing: ElectionTiming = field(default_factory=ElectionTiming)
    data: dict[int, tuple[int, int]] = field(default_factory=dict)
    servers: dict[int, Election] = field(default_factory=dict)
    queue: deque[tuple[int, int, Notification]] = field(default_factory=deque)

    def server(self, sid: int) -> Election:
        if sid not in self.servers:
            assert self.quorum is not None, "declare `servers` first"
            epoch, zxid = self.data.get(sid, (0, 0))
            self.servers[sid] = Election(sid, self.quorum, last_zxid=zxid, current_epoch=epoch, timing=self.timing)
        return self.servers[sid]

    def emit(self, sid: int, ready: Ready, out: list[str]) -> None:
        for m in ready.messages:
            out.append(f"  {sid}>{m.to} {fmt_notification(m.notification)}")
            self.queue.append((sid, m.to, m.notification))
        if ready.outcome is not None:
            o = ready.outcome
            how = "joined" if o.joined else "elected"
            out.append(f"  {sid} {o.state.name} leader={o.leader} round={o.election_epoch} "
                       f"vote={fmt_vote(o.vote)} {how} by {sorted(o.supporters)}")

    def deliver_one(self, now: int, out: list[str], drop: set[tuple[int, int]]) -> None:
        src, dst, n = self.queue.popleft()
        if (src, dst) in drop:
            out.append(f"{src}>{dst} lost")
            return
        out.append(f"{src}>{dst} {fmt_notification(n)}")
        if dst in self.servers:
            self.emit(dst, self.servers[dst].step(src, n, now), out)


def _kv(args: list[str]) -> dict[str, str]:
    return dict(a.split("=", 1) for a in args if "=" in a)


def _links(text: str) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in (x.split(">") for x in text.split(",") if x)}


def run_command(world: World, line: str) -> list[str]:
    m = re.search(r"\s@(\d+)\s*$", line)
    now = int(m.group(1)) if m else 0
    words = (line[:m.start()] if m else line).split()
    cmd, args = words[0], words[1:]
    kv = _kv(args)
    out: list[str] = []
    if cmd == "servers":
        voters = [int(x) for x in kv["voters"].split(",")]
        observers = [int(x) for x in kv.get("observers", "").split(",") if x]
        world.quorum = QuorumMaj.of(voters, observers)
        world.servers.clear()  # a fresh ensemble
        world.data.clear()
        world.queue.clear()
        world.timing = ElectionTiming(int(kv.get("finalize", 200)), int(kv.get("min", 200)),
                                      int(kv.get("max", 60_000)))
    elif cmd == "data":
        world.data[int(args[0])] = (int(kv["epoch"], 0), int(kv["zxid"], 0))
    elif cmd == "start":
        for sid in (int(a) for a in args):
            e = world.server(sid)
            epoch, zxid = world.data.get(sid, (e.current_epoch, e.last_zxid))
            out.append(f"{sid} start")
            world.emit(sid, e.start(now, last_zxid=zxid, current_epoch=epoch), out)
    elif cmd == "deliver":
        only = _links(kv.get("only", ""))
        drop = _links(kv.get("drop", ""))
        counts = [a for a in args if "=" not in a]
        if only:
            keep: deque[tuple[int, int, Notification]] = deque()
            batch: deque[tuple[int, int, Notification]] = deque()
            for item in world.queue:
                (batch if (item[0], item[1]) in only else keep).append(item)
            for item in batch:
                world.queue = deque([item])
                world.deliver_one(now, out, drop)
                keep.extend(world.queue)  # replies join the back of the queue
            world.queue = keep
        elif counts and counts[0] == "all":
            while world.queue:
                world.deliver_one(now, out, drop)
        else:
            for _ in range(int(counts[0]) if counts else len(world.queue)):
                world.deliver_one(now, out, drop)
    elif cmd == "drop":
        links = _links(args[0])
        before = len(world.queue)
        world.queue = deque(i for i in world.queue if (i[0], i[1]) not in links)
        out.append(f"dropped {before - len(world.queue)}")
    elif cmd == "send":
        src, dst = (int(x) for x in args[0].split(">"))
        n = Notification(ServerState[args[1]], int(kv["leader"]), int(kv["zxid"], 0), int(kv["round"]),
                         int(kv["epoch"]))
        out.append(f"{src}>{dst} {fmt_notification(n)}")
        world.emit(dst, world.servers[dst].step(src, n, now), out)
    elif cmd == "tick":
        for sid in (int(a) for a in args):
            r = world.servers[sid].tick(now)
            if r.messages or r.outcome:
                out.append(f"{sid} tick")
            world.emit(sid, r, out)
    elif cmd == "update_epoch":
        world.servers[int(args[0])].update_peer_epoch(int(args[1]))
    elif cmd == "state":
        for sid, e in sorted(world.servers.items()):
            out.append(f"{sid} {e.state.name} round={e.logical_clock} proposal={fmt_vote(e.proposal)} "
                       f"vote={fmt_vote(e.current_vote)} wake={e.wake_at}")
        if world.queue:
            out.append(f"queued {len(world.queue)}")
    else:
        raise ValueError(f"unknown command {cmd!r}")
    return out


def run_trace(path: Path) -> tuple[str, str]:
    """(expected, actual) text of the whole file."""
    world = World()
    expected = path.read_text()
    actual: list[str] = []
    lines = expected.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("> "):
            if not line.strip() or line.startswith("#"):
                actual.append(line)
            continue
        actual.append(line)
        actual.extend(run_command(world, line[2:]))
        while i < len(lines) and lines[i].strip() and not lines[i].startswith(("> ", "#")):
            i += 1  # the old expectation, replaced by what we print
    text = "\n".join(actual) + "\n"
    if os.environ.get("ZKEEPER_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    return expected, text
