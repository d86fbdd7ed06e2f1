"""A simulated ensemble: servers running zab.Election (+ the ZAB stub) on a virtual network.

`run(SimConfig(seed=...))` boots every server, injects faults from the seed (crashes,
restarts, partitions, heals) until `faults_until`, then heals and calms the network,
leaves up to a minority of voters down, and requires the rest to settle on one serving
leader within `settle_within`. Every step is checked by `Checker`; the same config
always replays the same run. `Cluster` also takes scripted steps, for scenario tests.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ..zab.election import ElectionTiming
from ..zab.quorum import OBSERVER, PARTICIPANT, QuorumMaj, config_text
from ..zab.zxid import make_zxid
from .checks import Checker, InvariantViolation
from .network import NetConfig, Network
from .peer import SimPeer
from .scheduler import BudgetExceeded, Scheduler
from .stubzab import Durable, LeaderStub, Phase


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int
    voters: int = 3
    observers: int = 0
    drop: float = 0.05  # datagram loss; quorum connections break at a fifth of this rate
    min_delay: int = 1
    max_delay: int = 40
    tick_time: int = 200
    init_limit: int = 10
    sync_limit: int = 5
    timing: ElectionTiming = ElectionTiming(max_notification_interval=3_200)
    faults_until: int = 15_000  # ms of random faults
    mean_fault_gap: int = 1_200
    propose_chance: float = 0.3  # per leader tick while serving
    settle_within: int = 60_000  # after the faults stop
    max_events: int = 400_000

    def replay(self) -> str:
        """A shell line that runs exactly this again and prints the full trace."""
        return f"PYTHONPATH=src python -c 'from zkeeper.sim import *; print_run({self!r})'"


# Network weather for random runs; see tests/sim/test_random_runs.py.
PROFILES: dict[str, dict[str, float]] = {
    # Delays below the finalize wait: the usual LAN.
    "lan": {},
    # Delays past the finalize wait and heavy loss: servers decide on stale views, so
    # rounds split, leaders fail to gather followers, and epochs must still stay unique.
    "stormy": {"max_delay": 400, "drop": 0.2, "mean_fault_gap": 700},
}


@dataclass(frozen=True, slots=True)
class RunReport:
    seed: int
    leader: int
    epoch: int
    stranded: tuple[int, ...]  # up but unable to join: their accepted epoch is past the leader's
    settled_at: int
    decisions: int
    epochs: int
    committed: int
    crashes: int
    partitions: int
    events: int
    messages: int


class Cluster:
    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.sched = Scheduler(cfg.max_events)
        self.net = Network(self.sched, self.rng, NetConfig(cfg.drop, cfg.drop / 5, cfg.min_delay, cfg.max_delay))
        voters = range(1, cfg.voters + 1)
        observers = range(cfg.voters + 1, cfg.voters + cfg.observers + 1)
        self.quorum = QuorumMaj.of(voters, observers)
        self.config_bytes = _config_bytes(self.quorum)
        self.checker = Checker(self.quorum, cfg.replay())
        self.peers = {sid: SimPeer(sid, self, d) for sid, d in _pre_history(self.rng, self.quorum).items()}
        self.crashes = 0
        self.partitions = 0

    # ---- scripted control (tests drive scenarios with these) ------------------------------

    def up_peers(self) -> list[SimPeer]:
        return [p for p in self.peers.values() if p.up]

    def start(self) -> None:
        """Boot every server within the first 50 ms, in a seeded order."""
        for p in self.peers.values():
            self.sched.at(self.sched.now + self.rng.randint(0, 50), p.boot_if_down)

    def run_for(self, ms: int) -> None:
        self._run(self.sched.now + ms)

    def crash(self, sid: int) -> None:
        self.crashes += 1
        self.peers[sid].crash()

    def restart(self, sid: int) -> None:
        self.peers[sid].boot()

    def partition(self, *groups: set[int]) -> None:
        self.partitions += 1
        self.checker.trace.add(f"{self.sched.now:>7} partition {[sorted(g) for g in groups]}")
        self.net.partition(list(groups))

    def heal(self) -> None:
        self.checker.trace.add(f"{self.sched.now:>7} heal")
        self.net.heal()

    def calm(self) -> None:
        """Termination is promised for a working network: no loss, delays well inside
        syncLimit. Lossy settling is the fault phase's job."""
        cfg = self.cfg
        self.net.cfg = NetConfig(0.0, 0.0, cfg.min_delay, min(cfg.max_delay, cfg.tick_time // 4))

    def settled(self, among: set[int] | None = None) -> tuple[int, int] | None:
        """(leader, epoch) when the running servers of `among` (default: all) follow one
        serving leader that is itself among them, a quorum of voters with it.

        The exception is a server that accepted a newer epoch than the leader's (it tried
        to lead, computed the next epoch, and failed): ZooKeeper 3.8's Learner refuses an
        older leader, so it cannot join until the next leader change (see `stranded`)."""
        group = [p for p in self.up_peers() if among is None or p.my_id in among]
        leaders = [p for p in group if isinstance(p.role, LeaderStub) and p.role.phase == Phase.BROADCAST]
        if len(leaders) != 1:
            return None
        leader = leaders[0]
        epoch = leader.durable.current_epoch
        synced = {p.my_id for p in group if p is leader or p.synced_to(leader.my_id, epoch)}
        if not self.quorum.contains_quorum(synced):
            return None
        if all(p.my_id in synced or p.durable.accepted_epoch > epoch for p in group):
            return leader.my_id, epoch
        return None

    def stranded(self, epoch: int) -> tuple[int, ...]:
        """Running servers whose accepted epoch is past `epoch`: no leader of it can have them."""
        return tuple(sorted(p.my_id for p in self.up_peers() if p.durable.accepted_epoch > epoch))

    def run_until_settled(self, within: int, among: set[int] | None = None) -> tuple[int, int]:
        self._run(self.sched.now + within, stop=lambda: self.settled(among) is not None)
        outcome = self.settled(among)
        if outcome is None:
            who = "every server" if among is None else f"servers {sorted(among)}"
            self.checker.fail(f"{who} found no single serving leader within {within} ms:\n" + self._describe())
        assert outcome is not None
        return outcome

    def _run(self, until: int, stop: Callable[[], bool] | None = None) -> None:
        try:
            self.sched.run_until(until, stop)
        except BudgetExceeded as e:
            self.checker.fail(f"event budget exhausted: {e}")

    # ---- the random run -------------------------------------------------------------------

    def _fault(self) -> None:
        rng = self.rng
        up = self.up_peers()
        down = [p for p in self.peers.values() if not p.up]
        choices: list[str] = ["partition", "heal", "isolate"]
        if up:
            choices += ["crash", "crash_leader"]
        if down:
            choices += ["restart", "restart"]
        action = rng.choice(choices)
        if action == "crash":
            self.crash(rng.choice(up).my_id)
        elif action == "crash_leader":
            leaders = [p for p in up if isinstance(p.role, LeaderStub)]
            if leaders:
                self.crash(rng.choice(leaders).my_id)
        elif action == "restart":
            rng.choice(down).boot()
        elif action == "partition":
            ids = list(self.peers)
            rng.shuffle(ids)
            cut = rng.randint(1, len(ids) - 1)
            self.partition(set(ids[:cut]), set(ids[cut:]))
        elif action == "isolate":
            loner = rng.choice(list(self.peers))
            self.partition(set(self.peers) - {loner}, {loner})
        else:
            self.heal()

    def _schedule_faults(self) -> None:
        t = self.sched.now
        end = t + self.cfg.faults_until
        while True:
            t += 1 + int(self.rng.expovariate(1 / self.cfg.mean_fault_gap))
            if t >= end:
                return
            self.sched.at(t, self._fault)

    def run(self) -> RunReport:
        """Faults, then heal and calm; any quorum of voters left running must settle."""
        cfg = self.cfg
        self.start()
        self._schedule_faults()
        self.run_for(cfg.faults_until)
        self.heal()
        self.calm()
        # Leave up to a minority of voters down: a bare quorum must be enough.
        down_for_good = set(self.rng.sample(sorted(self.quorum.voters), self.rng.randint(0, self.quorum.half)))
        self.checker.trace.add(f"{self.sched.now:>7} faults over; staying down: {sorted(down_for_good)}")
        for p in self.peers.values():
            if p.my_id in down_for_good and p.up:
                self.crash(p.my_id)
            elif p.my_id not in down_for_good and not p.up:
                p.boot()
        leader, epoch = self.run_until_settled(cfg.settle_within)
        self.checker.final_leader(leader, self.peers[leader].durable.history)
        return RunReport(cfg.seed, leader, epoch, self.stranded(epoch), self.sched.now, self.checker.decisions,
                         len(self.checker.leaders), len(self.checker.committed), self.crashes, self.partitions,
                         self.sched.events_run, self.net.stats.sent)

    def _describe(self) -> str:
        lines = []
        for p in self.peers.values():
            e = p.election
            role = type(p.role).__name__ if p.role else "-"
            phase = p.role.phase.name if p.role else "-"
            if e is None:
                lines.append(f"  {p.my_id}: down")
            else:
                lines.append(f"  {p.my_id}: {e.state.name} round={e.logical_clock} proposal={e.proposal} "
                             f"vote={e.current_vote} {role} {phase} epoch={p.durable.current_epoch}"
                             f"/{p.durable.accepted_epoch} zxid=0x{p.durable.last_zxid:x}")
        return "\n".join(lines)


def run(cfg: SimConfig) -> RunReport:
    """Run one seeded scenario; raises InvariantViolation (with the replay line) on failure."""
    return Cluster(cfg).run()


def print_run(cfg: SimConfig) -> None:
    """Run and print every traced event (the replay line of a failure calls this)."""
    cluster = Cluster(cfg)
    cluster.checker.trace.limit = 10**9
    try:
        print(cluster.run())
    finally:
        print("\n".join(cluster.checker.trace.lines))


def _pre_history(rng: random.Random, quorum: QuorumMaj) -> dict[int, Durable]:
    """Logs as an earlier ZAB run could have left them: one history over epochs 1..E; each
    server holds it up to some point of its own current epoch; and since epoch E was
    established, a quorum of voters has accepted E (so no new leader reuses an epoch)."""
    epochs = rng.randint(0, 3)
    history = [make_zxid(e, c) for e in range(1, epochs + 1) for c in range(1, rng.randint(1, 4) + 1)]
    out = {}
    for sid in sorted(quorum.members):
        current = rng.randint(0, epochs)
        older = [z for z in history if z >> 32 < current]
        own = [z for z in history if z >> 32 == current]
        log = older + own[:rng.randint(0, len(own))]
        out[sid] = Durable(current, current, log)
    voters = sorted(quorum.voters)
    for sid in rng.sample(voters, quorum.quorum_size):
        out[sid].accepted_epoch = epochs
    return out


@dataclass(frozen=True, slots=True)
class _Line:
    """A `server.N` line for the config bytes every notification carries."""

    host: str
    role: str
    quorum_port: int = 2888
    election_port: int = 3888
    client_address: str | None = None
    client_port: int | None = None


def _config_bytes(q: QuorumMaj) -> bytes:
    servers = {sid: _Line(f"127.0.0.{sid}", PARTICIPANT if sid in q.voters else OBSERVER) for sid in q.members}
    return config_text(servers, q.version).encode()


__all__ = ["PROFILES", "Cluster", "InvariantViolation", "RunReport", "SimConfig", "SimPeer", "print_run", "run"]
