"""zkServer ensemble: a replicated zkeeper ensemble on 127.0.0.1 with one command.

    zkServer ensemble start [N] [--observers K] [--dir DIR] [--base-port P]
    zkServer ensemble status [--dir DIR]
    zkServer ensemble stop [--dir DIR]

DIR (default ./ensemble) holds one folder per member, DIR/member<i>, which is that
member's dataDir too: zoo.cfg, myid, and what `zkServer start` keeps there (the pid file
zookeeper_server.pid, the output zookeeper.out, version-2/, the epoch files). Members
1..N take part in the quorum, N+1..N+K are observers. Member i's ports derive from the
base port P (default 2181): client P+i-1, quorum P+707+i-1, election P+1707+i-1, which
with the default base are the usual 2181/2888/3888, counting up.

`start` writes the folders only when DIR has none, so a stopped ensemble starts again
with its data; it launches every member the way `zkServer start` does, then waits until
each one serves. A single participant runs standalone, as ZooKeeper runs it while
standaloneEnabled=true (the default).
"""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..server.config import OBSERVER, ConfigError, ServerConfig, load_config
from .zkserver import _alive, _ask_mode, _pid_file, _read_pid, launch
from .zkserver import cmd_stop as stop_one

HOST = "127.0.0.1"
DEFAULT_DIR = "ensemble"
DEFAULT_BASE_PORT = 2181
QUORUM_OFFSET = 2888 - 2181
ELECTION_OFFSET = 3888 - 2181
MAX_PARTICIPANTS = 9
MAX_OBSERVERS = 9


class EnsembleError(Exception):
    """Something the user asked for cannot be done; the message says why."""


@dataclass(frozen=True)
class Ports:
    client: int
    quorum: int
    election: int


def ports_of(base: int, sid: int) -> Ports:
    return Ports(base + sid - 1, base + QUORUM_OFFSET + sid - 1, base + ELECTION_OFFSET + sid - 1)


@dataclass(frozen=True)
class Member:
    sid: int
    folder: Path
    config: ServerConfig

    @property
    def cfg_path(self) -> Path:
        return self.folder / "zoo.cfg"

    @property
    def observer(self) -> bool:
        spec = self.config.servers.get(self.sid)
        return spec is not None and spec.role == OBSERVER

    @property
    def role(self) -> str:
        return "observer" if self.observer else "participant"

    def listen_ports(self) -> list[int]:
        spec = self.config.servers.get(self.sid)
        return [self.config.client_port] + ([spec.quorum_port, spec.election_port] if spec else [])

    def pid(self) -> int | None:
        return _read_pid(_pid_file(self.config))

    def running_pid(self) -> int | None:
        pid = self.pid()
        return pid if pid is not None and _alive(pid) else None

    def mode(self, timeout: float = 1.0) -> str:
        """leader/follower/observer/standalone, else "not serving" or "not running"."""
        answer = _ask_mode(self.config, timeout=timeout)
        if answer is not None:
            return answer.removeprefix("Mode: ").strip()
        return "not serving" if self.running_pid() is not None else "not running"


# --------------------------------------------------------------------------------------
# The folders


def zoo_cfg(folder: Path, sid: int, participants: int, observers: int, base: int) -> str:
    own = ports_of(base, sid)
    lines = [
        "# written by `zkServer ensemble start`; edit freely, it is kept and reused",
        "tickTime=2000",
        "initLimit=10",
        "syncLimit=5",
        f"dataDir={folder}",
        f"clientPort={own.client}",
        f"clientPortAddress={HOST}",
        "4lw.commands.whitelist=*",
        "admin.enableServer=false",
    ]
    if sid > participants:
        lines.append("peerType=observer")
    for other in range(1, participants + observers + 1):
        p = ports_of(base, other)
        role = ":observer" if other > participants else ""
        lines.append(f"server.{other}={HOST}:{p.quorum}:{p.election}{role}")
    return "\n".join(lines) + "\n"


def write_members(directory: Path, participants: int, observers: int, base: int) -> None:
    for sid in range(1, participants + observers + 1):
        folder = directory / f"member{sid}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "myid").write_text(f"{sid}\n")
        (folder / "zoo.cfg").write_text(zoo_cfg(folder, sid, participants, observers, base))


def find_members(directory: Path) -> list[Member]:
    members = []
    for cfg in directory.glob("member*/zoo.cfg"):
        suffix = cfg.parent.name.removeprefix("member")
        if not suffix.isdigit():
            continue
        try:
            config = load_config(cfg)
        except ConfigError as e:
            raise EnsembleError(f"cannot read {cfg}: {e}") from e
        members.append(Member(int(suffix), cfg.parent, config))
    return sorted(members, key=lambda m: m.sid)


def connect_string(members: list[Member]) -> str:
    return ",".join(f"{HOST}:{m.config.client_port}" for m in members)


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        # SO_REUSEADDR: only a listener counts, not the TIME_WAIT of a stopped member
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def _check_request(participants: int | None, observers: int | None, base: int | None) -> None:
    if participants is not None and not 1 <= participants <= MAX_PARTICIPANTS:
        raise EnsembleError(f"N must be from 1 to {MAX_PARTICIPANTS} participants, not {participants}")
    if observers is not None and not 0 <= observers <= MAX_OBSERVERS:
        raise EnsembleError(f"--observers must be from 0 to {MAX_OBSERVERS}, not {observers}")
    if observers and participants == 1:
        raise EnsembleError("observers need a quorum: a single participant runs standalone; use N >= 2")
    if base is not None:
        top = base + ELECTION_OFFSET + (participants or 1) + (observers or 0) - 1
        if base < 1 or top > 65535:
            raise EnsembleError(f"--base-port {base} puts ports outside 1..65535 (the last would be {top})")


def _check_existing(directory: Path, members: list[Member], participants: int | None,
                    observers: int | None, base: int | None) -> None:
    """A folder that holds an ensemble is reused as it is: refuse what contradicts it."""
    running = [f"member {m.sid} (pid {m.running_pid()})" for m in members if m.running_pid() is not None]
    if running:
        raise EnsembleError(f"{directory} already holds a running ensemble: {', '.join(running)}; "
                            f"stop it first with `zkServer ensemble stop --dir {directory}`")
    have_obs = sum(m.observer for m in members)
    have_part = len(members) - have_obs
    differs = []
    if participants is not None and participants != have_part:
        differs.append(f"{have_part} participants, not {participants}")
    if observers is not None and observers != have_obs:
        differs.append(f"{have_obs} observers, not {observers}")
    if base is not None and base != members[0].config.client_port - members[0].sid + 1:
        differs.append(f"member {members[0].sid}'s client port {members[0].config.client_port}")
    if differs:
        raise EnsembleError(f"{directory} already holds an ensemble with {'; '.join(differs)}; "
                            f"start it as it is (`zkServer ensemble start --dir {directory}`) "
                            f"or remove the folder to make another")


def _member_line(m: Member, pid: int | None, mode: str) -> str:
    spec = m.config.servers.get(m.sid)
    ports = f"quorum {spec.quorum_port}, election {spec.election_port}" if spec else "no server line"
    return (f"member {m.sid} ({m.role}): client {HOST}:{m.config.client_port}, {ports}, "
            f"pid {pid if pid is not None else '-'}: {mode}")


# --------------------------------------------------------------------------------------
# The commands


def cmd_start(directory: Path, participants: int | None, observers: int | None, base: int | None,
              wait_s: float) -> int:
    _check_request(participants, observers, base)
    members = find_members(directory)
    if members:
        _check_existing(directory, members, participants, observers, base)
        print(f"Reusing the ensemble in {directory}")
    else:
        if participants is None:
            raise EnsembleError(f"{directory} holds no ensemble yet: say how many members, "
                                f"`zkServer ensemble start N`")
        base = DEFAULT_BASE_PORT if base is None else base
        write_members(directory, participants, observers or 0, base)
        members = find_members(directory)
        print(f"Wrote {len(members)} members in {directory}; member i listens on client port "
              f"{base}+i-1, quorum port {base + QUORUM_OFFSET}+i-1, election port {base + ELECTION_OFFSET}+i-1")
    participating = sum(not m.observer for m in members)
    if participating == 1:
        print("One participant: it runs standalone (standaloneEnabled=true), not as a quorum")
    elif participating % 2 == 0:
        print(f"Note: {participating} participants tolerate {(participating - 1) // 2} failure(s), "
              f"as {participating - 1} would")
    busy = sorted(p for m in members for p in m.listen_ports() if port_in_use(p))
    if busy:
        raise EnsembleError(f"port(s) {', '.join(map(str, busy))} on {HOST} are in use; "
                            f"choose another --base-port (with a fresh --dir)")
    procs = {m.sid: launch(m.config, str(m.cfg_path), log_dir=m.folder) for m in members}
    modes = _wait_serving(members, procs, wait_s)
    for m in members:
        print(_member_line(m, procs[m.sid].pid, modes[m.sid]))
    print(f"Connect string: {connect_string(members)}")
    died = [m for m in members if procs[m.sid].poll() is not None]
    if died:
        names = ", ".join(f"member {m.sid} (see {m.folder / 'zookeeper.out'})" for m in died)
        print(f"FAILED TO START: {names} exited; stopping the others")
        _end_launched(members, procs, wait_s)
        return 1
    if any(modes[m.sid] == "not serving" for m in members):
        print(f"Not every member serves after {wait_s:g}s; they keep trying (logs: zookeeper.out in each "
              f"member folder). `zkServer ensemble status --dir {directory}` tells; "
              f"`zkServer ensemble stop --dir {directory}` ends them.")
        return 1
    print("STARTED")
    return 0


def _wait_serving(members: list[Member], procs: dict[int, subprocess.Popen[bytes]],
                  wait_s: float) -> dict[int, str]:
    """Each member's mode once all serve, one exits, or wait_s passes."""
    modes = {m.sid: "not serving" for m in members}
    deadline = time.monotonic() + wait_s
    while True:
        for m in members:
            if procs[m.sid].poll() is not None:
                modes[m.sid] = "exited"
            elif modes[m.sid] == "not serving":
                answer = _ask_mode(m.config, timeout=0.5)
                if answer is not None:
                    modes[m.sid] = answer.removeprefix("Mode: ").strip()
        if "exited" in modes.values() or "not serving" not in modes.values():
            return modes
        if time.monotonic() >= deadline:
            return modes
        time.sleep(0.1)


def _end_launched(members: list[Member], procs: dict[int, subprocess.Popen[bytes]], wait_s: float) -> None:
    """Stop members this process started: SIGTERM, then reap them through their Popen.
    (A child that has exited but is not reaped is a zombie, which `zkServer stop`'s
    pid check would take for a live server.)"""
    for m in members:
        if procs[m.sid].poll() is None:
            procs[m.sid].terminate()
    for m in members:
        try:
            procs[m.sid].wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            print(f"member {m.sid}: pid {procs[m.sid].pid} did not stop within {wait_s:g}s")
        else:
            _pid_file(m.config).unlink(missing_ok=True)


def cmd_status(directory: Path) -> int:
    members = find_members(directory)
    if not members:
        print(f"No ensemble in {directory}: not running "
              f"(start one with `zkServer ensemble start N --dir {directory}`)")
        return 1
    modes = {m.sid: m.mode() for m in members}
    for m in members:
        print(_member_line(m, m.running_pid(), modes[m.sid]))
    print(f"Connect string: {connect_string(members)}")
    return 0 if all(mode not in ("not serving", "not running") for mode in modes.values()) else 1


def cmd_stop(directory: Path) -> int:
    members = find_members(directory)
    if not members:
        print(f"No ensemble in {directory}: nothing to stop")
        return 0
    for m in members:
        print(f"member {m.sid}: ", end="")
        stop_one(m.config)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zkServer ensemble",
                                     description="Run a local zkeeper ensemble on 127.0.0.1.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="write the member folders (when new) and start every member")
    start.add_argument("n", nargs="?", type=int, metavar="N",
                       help=f"participants, 1..{MAX_PARTICIPANTS} (needed only for a new ensemble)")
    start.add_argument("--observers", type=int, metavar="K", help="observers besides (default 0)")
    start.add_argument("--base-port", type=int, metavar="P",
                       help=f"member i: client P+i-1, quorum P+{QUORUM_OFFSET}+i-1, election "
                            f"P+{ELECTION_OFFSET}+i-1 (default {DEFAULT_BASE_PORT})")
    start.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                       help="how long to wait for every member to serve (default 30)")
    for name, text in (("status", "each member's pid and mode, and the connect string"),
                       ("stop", "stop every member (SIGTERM, as zkServer stop)")):
        sub.add_parser(name, help=text)
    for p in sub.choices.values():
        p.add_argument("--dir", default=DEFAULT_DIR, help=f"the ensemble's folder (default ./{DEFAULT_DIR})")
    args = parser.parse_args(argv)
    # the config reader's warnings on the ensemble's size would repeat for every member read;
    # `start` says it once
    logging.getLogger("zkeeper.config").setLevel(logging.ERROR)
    directory = Path(args.dir).absolute()
    try:
        if args.command == "start":
            return cmd_start(directory, args.n, args.observers, args.base_port, args.wait)
        if args.command == "status":
            return cmd_status(directory)
        return cmd_stop(directory)
    except EnsembleError as e:
        print(f"zkServer ensemble {args.command}: {e}", file=sys.stderr)
        return 1

