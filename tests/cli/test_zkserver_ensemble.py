"""`zkServer ensemble {start|status|stop}`: a local replicated ensemble with one command.

Real processes on 127.0.0.1: the CLI runs as a subprocess (as a user runs it), so the
members it starts in the background outlive it, exactly as after `zkServer start`. Every
pid the members' pid files name is checked to be gone at the end, and killed if not.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import astuple
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.support.servers import REPO_ROOT, free_port
from zkeeper.cli.ensemble import ELECTION_OFFSET, port_in_use, ports_of, write_members, zoo_cfg
from zkeeper.cli.zkserver import _alive, _read_pid

ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
LINE = re.compile(r"^member (\d+) \((participant|observer)\): client 127\.0\.0\.1:(\d+), "
                  r"quorum (\d+), election (\d+), pid (\d+|-): (.+)$")


def zk_ensemble(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zkeeper.cli.zkserver", "ensemble", *args],
                          env=ENV, capture_output=True, text=True, timeout=timeout, check=False)


def free_base(members: int) -> int:
    """A base port all of whose derived ports (client, quorum, election per member) are free."""
    for _ in range(100):
        base = free_port()
        if base + ELECTION_OFFSET + members - 1 > 65535:
            continue
        if not any(port_in_use(p) for sid in range(1, members + 1) for p in astuple(ports_of(base, sid))):
            return base
    raise RuntimeError("found no base port with free derived ports")


def members_of(output: str) -> dict[int, tuple[str, int, str, str]]:
    """sid -> (role, client port, pid, mode) from `start` or `status` output."""
    found = {}
    for line in output.splitlines():
        if m := LINE.match(line):
            found[int(m[1])] = (m[2], int(m[3]), m[6], m[7])
    return found


def pids_in(directory: Path) -> set[int]:
    return {pid for f in directory.glob("member*/zookeeper_server.pid") if (pid := _read_pid(f)) is not None}


def gone(pid: int) -> bool:
    return not _alive(pid)


def wait_modes(directory: Path, want: list[str], timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    out = ""
    while time.monotonic() < deadline:
        out = zk_ensemble("status", "--dir", str(directory)).stdout
        if sorted(v[3] for v in members_of(out).values()) == sorted(want):
            return out
        time.sleep(0.2)
    raise AssertionError(f"modes never became {want}; last status:\n{out}")


@pytest.fixture
def ensemble_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "ensemble"
    started: set[int] = set()

    def remember() -> None:
        started.update(pids_in(directory))

    yield directory
    remember()
    zk_ensemble("stop", "--dir", str(directory))
    for pid in started:  # only the members this test started, by pid
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def read_from(port: int, path: str) -> bytes:
    client = KazooClient(hosts=f"127.0.0.1:{port}", timeout=10)
    client.start(timeout=15)
    try:
        client.sync(path)
        data: bytes = client.get(path)[0]
        return data
    finally:
        client.stop()
        client.close()


def test_three_members_elect_serve_stop_and_start_again(ensemble_dir: Path) -> None:
    base = free_base(3)
    d = str(ensemble_dir)
    started = zk_ensemble("start", "3", "--dir", d, "--base-port", str(base))
    assert started.returncode == 0, started.stdout + started.stderr
    members = members_of(started.stdout)
    assert sorted(members) == [1, 2, 3]
    assert [members[i][1] for i in (1, 2, 3)] == [base, base + 1, base + 2]
    assert "STARTED" in started.stdout
    for sid in (1, 2, 3):
        cfg = (ensemble_dir / f"member{sid}" / "zoo.cfg").read_text()
        assert f"clientPort={base + sid - 1}\n" in cfg and "clientPortAddress=127.0.0.1\n" in cfg
        assert (ensemble_dir / f"member{sid}" / "myid").read_text().strip() == str(sid)
    pids = pids_in(ensemble_dir)
    assert len(pids) == 3 and {int(v[2]) for v in members.values()} == pids

    status = wait_modes(ensemble_dir, ["leader", "follower", "follower"])
    assert f"Connect string: 127.0.0.1:{base},127.0.0.1:{base + 1},127.0.0.1:{base + 2}" in status
    assert {int(v[2]) for v in members_of(status).values()} == pids

    again = zk_ensemble("start", "--dir", d)
    assert again.returncode == 1
    assert "already holds a running ensemble" in again.stderr
    assert pids_in(ensemble_dir) == pids

    writer = KazooClient(hosts=f"127.0.0.1:{base}", timeout=10)
    writer.start(timeout=15)
    try:
        writer.create("/ensemble-test", b"written on member 1")
    finally:
        writer.stop()
        writer.close()
    assert read_from(base + 1, "/ensemble-test") == b"written on member 1"
    assert read_from(base + 2, "/ensemble-test") == b"written on member 1"

    stopped = zk_ensemble("stop", "--dir", d)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout.count("STOPPED") == 3
    assert all(gone(pid) for pid in pids), [pid for pid in pids if not gone(pid)]
    assert pids_in(ensemble_dir) == set()

    after = zk_ensemble("status", "--dir", d)
    assert after.returncode == 1
    assert [v[2:] for v in members_of(after.stdout).values()] == [("-", "not running")] * 3

    # the folders are reused: same ports, same data
    restarted = zk_ensemble("start", "--dir", d)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "Reusing the ensemble" in restarted.stdout
    assert read_from(base + 2, "/ensemble-test") == b"written on member 1"
    pids = pids_in(ensemble_dir)
    assert zk_ensemble("stop", "--dir", d).returncode == 0
    assert all(gone(pid) for pid in pids)


def test_status_and_stop_with_nothing_there(tmp_path: Path) -> None:
    status = zk_ensemble("status", "--dir", str(tmp_path / "none"))
    assert status.returncode == 1
    assert "not running" in status.stdout
    stop = zk_ensemble("stop", "--dir", str(tmp_path / "none"))
    assert stop.returncode == 0 and "nothing to stop" in stop.stdout
    assert not (tmp_path / "none").exists()


def test_status_of_a_written_but_stopped_ensemble(tmp_path: Path) -> None:
    write_members(tmp_path, 3, 1, free_base(4))
    status = zk_ensemble("status", "--dir", str(tmp_path))
    assert status.returncode == 1
    found = members_of(status.stdout)
    assert [found[i][0] for i in (1, 2, 3, 4)] == ["participant"] * 3 + ["observer"]
    assert all(v[2:] == ("-", "not running") for v in found.values())


@pytest.mark.parametrize("args, message", [
    (["0"], "N must be from 1 to 9"),
    (["10"], "N must be from 1 to 9"),
    (["1", "--observers", "1"], "observers need a quorum"),
    (["3", "--observers", "10"], "--observers must be from 0 to 9"),
    (["3", "--base-port", "65000"], "outside 1..65535"),
    ([], "holds no ensemble yet"),
])
def test_start_refuses_bad_requests(tmp_path: Path, args: list[str], message: str) -> None:
    result = zk_ensemble("start", *args, "--dir", str(tmp_path / "e"))
    assert result.returncode == 1
    assert message in result.stderr
    assert not (tmp_path / "e").exists()


def test_start_refuses_to_reshape_an_existing_ensemble(tmp_path: Path) -> None:
    write_members(tmp_path, 3, 0, free_base(3))
    result = zk_ensemble("start", "5", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert "already holds an ensemble with 3 participants, not 5" in result.stderr
    assert pids_in(tmp_path) == set()


def test_zoo_cfg_layout() -> None:
    folder = Path("/tmp/e/member4")
    cfg = zoo_cfg(folder, 4, 3, 1, 2181)
    assert cfg.splitlines()[1:] == [
        "tickTime=2000", "initLimit=10", "syncLimit=5", "dataDir=/tmp/e/member4",
        "clientPort=2184", "clientPortAddress=127.0.0.1", "4lw.commands.whitelist=*",
        "admin.enableServer=false", "peerType=observer",
        "server.1=127.0.0.1:2888:3888", "server.2=127.0.0.1:2889:3889",
        "server.3=127.0.0.1:2890:3890", "server.4=127.0.0.1:2891:3891:observer",
    ]
