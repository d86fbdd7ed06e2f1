"""zkCli against Apache ZooKeeper's own zkCli.sh: same commands, same output.

Real processes on 127.0.0.1: two fresh Apache ZooKeeper servers and one zkeeper server
with identical histories. The same script is piped into zkCli.sh (reference server 1),
into our zkCli (reference server 2) and into our zkCli (zkeeper); their stdout, stderr
and exit statuses must match once what legitimately differs is masked (dates, session
ids, the CLI version, ports, the JVM's log noise). Watch events are compared as their
own sequence, since zkCli.sh prints them from another thread. Then one-shot runs, an
interactive session through a pty, and zkCli.sh driving a zkeeper server.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT, RunningServer, free_port, reference_available, restart_server, \
    start_reference, start_zkeeper
from zkeeper.cli.zkcli_args import Group, MissingArgument, Opt, OptionSpec, ParseError, parse_options, split_line
from zkeeper.cli.zkcli_format import StatsTrack, java_date, java_hex, path_error, watcher_message
from zkeeper.client import SyncClient
from zkeeper.types import EventType, KeeperState

ZKCLI_SH = Path("/usr/share/zookeeper/bin/zkCli.sh")
ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src"),
           CLIENT_JVMFLAGS="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto")

needs_reference = pytest.mark.skipif(not (reference_available() and ZKCLI_SH.exists()),
                                     reason="Apache ZooKeeper (Debian package 'zookeeper') and java are not installed")

# One script exercising the common commands, their errors and usage texts, watches,
# ACLs, quotas and the shell's own commands. It runs in one session, ending with quit.
SCRIPT = r"""
ls /
create /app
create /app/cfg hello
create /app/cfg again
get /app/cfg
get -s /app/cfg
stat /app
ls /app
ls -s /app
set /app/cfg world
set -s -v 1 /app/cfg world2
set -v 99 /app/cfg nope
get /app
create /app/list
create -s /app/list/item- a
create -s /app/list/item- b
ls /app/list
ls -R /app
getAllChildrenNumber /app
create -e /app/eph
getEphemerals /app
stat /app/eph
create -c /app/box
stat /app/box
create -t 60000 /app/ttl x
stat /app/ttl
create /app/q "quoted data"
get /app/q
create /app/empty ""
get /app/empty
create /app/acl x world:anyone:cdrwa,digest:bob:hash:r
getAcl /app/acl
getAcl -s /app/acl
setAcl /app/acl world:anyone:r
set /app/acl denied
setAcl -s /app/q world:anyone:cdrwa
create /app/badacl x world:anyone
create /app/oddperm x world:anyone:rz
addauth digest alice:secret
create /app/mine x auth::cdrwa
getAcl /app/mine
whoami
get -w /app/cfg
set /app/cfg changed
ls -w /app/list
create /app/list/more
stat -w /app/later
create /app/later
create /app/tree
addWatch /app/tree
create /app/tree/a
set /app/tree/a x
removewatches /app/tree
removewatches /app/nope
ls /app/cfg true
delete /app/list
delete -v 7 /app/cfg
deleteall /app/list
ls /app
setquota -n 5 /app/cfg
listquota /app/cfg
setquota -b 100 /app/cfg/x
setquota -N 10 /app/cfg
listquota /app/cfg
delquota -n /app/cfg
listquota /app/cfg
delquota /app/cfg
listquota /app/cfg
delquota /app/cfg
setquota -n 0 /app
setquota -n 1 -b 2 /app
setquota /app
sync /app
config
getAllChildrenNumber
get /nope
ls /nope
ls
ls -?
create
create -x /a
create -c -e /a
create -t abc /a
create -t 5 -e /a
set /app
set /app -1
delete
bogus
printwatches
printwatches off
printwatches on
history
redo 0
redo 99
version
create /app/utf ü
get /app/utf
create /bad/
create /a//b
create -se /app/seq-
create /r
create /r/a
create /r/a/b
create /r/c
setAcl -R /r world:anyone:cdrwa
setAcl -R /r
setAcl -R /nope world:anyone:r
setAcl /r bad
setAcl -R /r bad
getEphemerals
get -w /r
ls -w /r
removewatches /r -c
removewatches /r -d
removewatches /r -c
get -w /r
ls -w /r
removewatches /r -l
stat -w /r/none
removewatches /r/none -d
addWatch -m persistent /r
create /r/d
removewatches /r -a
deleteall /r -b 1
deleteall /zookeeper
ls /
config -c
config -s -w
reconfig
reconfig -add server.5=127.0.0.1:1234:1235;1236
reconfig -members server.1=127.0.0.1:2888:3888;2181 -add x
reconfig -file /nonexistent
reconfig -v zz -remove 3
sync bad
addauth ip 127.0.0.1
whoami
ls / extra more
get /zookeeper/config extra
stat / extra
ls -s /zookeeper
create /zookeeper/x
delete /zookeeper
get /zookeeper/quota
redo 1
redo 0x5
redo -1
close
ls /
connect 127.0.0.1:PORT
ls /app/tree
quit
"""


@dataclass
class Run:
    rc: int
    out: str
    err: str


def _run(cmd: list[str], script: str | None) -> Run:
    stdin = {"input": script} if script is not None else {"stdin": subprocess.DEVNULL}
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=60, **stdin)  # type: ignore[call-overload]
    return Run(p.returncode, p.stdout, p.stderr)


def zkcli_sh(port: int, *args: str, script: str | None = None) -> Run:
    """Apache ZooKeeper's zkCli.sh; `script` goes to its stdin (one session, no prompt)."""
    return _run([str(ZKCLI_SH), "-server", f"127.0.0.1:{port}", *args], script)


def zkcli(port: int, *args: str, script: str | None = None) -> Run:
    """Our zkCli, from this checkout."""
    return _run([sys.executable, "-m", "zkeeper.cli.zkcli", "-server", f"127.0.0.1:{port}", *args], script)


# ---- what may differ, and how it is masked -------------------------------------------

JAVA_DATE = r"[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} \S+ \d{4}"


def _mask_line(line: str) -> str:
    if m := re.fullmatch(r"(ctime|mtime) = (.*)", line):
        assert re.fullmatch(JAVA_DATE, m.group(2)), f"not Java's Date format: {line!r}"
        return f"{m.group(1)} = <date>"
    # A session id (not 0, not a TTL or container marker, which are 16 hex digits).
    if re.fullmatch(r"ephemeralOwner = 0x[0-9a-f]{1,15}", line) and line != "ephemeralOwner = 0x0":
        return "ephemeralOwner = <session>"
    if line.startswith("ZooKeeper CLI version: "):
        assert line.startswith("ZooKeeper CLI version: 3.8.0-")
        return "ZooKeeper CLI version: <version>"
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", line)


def normalize_stdout(text: str) -> tuple[list[str], list[str]]:
    """(the lines without WATCHER blocks, masked; the node events in order).

    Connection events (type:None) are left out of the events: zkCli.sh prints them
    from its event thread, racing with the command output and with its own exit."""
    lines = text.splitlines()
    kept: list[str] = []
    events: list[str] = []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line == "WATCHER::" or (line == "" and (nxt == "WATCHER::" or nxt.startswith("WatchedEvent "))):
            continue
        if line.startswith("WatchedEvent "):
            if "type:None" not in line:
                events.append(line)
            continue
        kept.append(_mask_line(line))
    return kept, events


def normalize_stderr(text: str) -> list[str]:
    return [_mask_line(ln) for ln in text.splitlines() if not ln.startswith("SLF4J:")]


def assert_same(label: str, expected: Sequence[str], actual: Sequence[str]) -> None:
    if list(expected) != list(actual):
        diff = "\n".join(difflib.unified_diff(list(expected), list(actual), "zkCli.sh", "zkCli", lineterm=""))
        pytest.fail(f"{label} differs from zkCli.sh:\n{diff}")


def assert_runs_match(reference: Run, ours: Run, *, skip: Sequence[str] = ()) -> None:
    def drop(lines: list[str]) -> list[str]:
        return [ln for ln in lines if not any(re.search(s, ln) for s in skip)]

    ref_out, ref_events = normalize_stdout(reference.out)
    our_out, our_events = normalize_stdout(ours.out)
    assert_same("stdout", drop(ref_out), drop(our_out))
    assert_same("watch events", ref_events, our_events)
    assert_same("stderr", drop(normalize_stderr(reference.err)), drop(normalize_stderr(ours.err)))
    assert reference.rc == ours.rc


# ---- fixtures ------------------------------------------------------------------------


@dataclass
class Servers:
    zkeeper: RunningServer  # fresh zkeeper, for our zkCli
    ref_java: RunningServer | None  # fresh Apache ZooKeeper, for zkCli.sh (None: not installed)
    ref_ours: RunningServer | None  # fresh Apache ZooKeeper, for our zkCli

    def references(self) -> tuple[RunningServer, RunningServer]:
        if self.ref_java is None or self.ref_ours is None:
            pytest.skip("Apache ZooKeeper (Debian package 'zookeeper') and java are not installed")
        return self.ref_java, self.ref_ours


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with concurrent.futures.ThreadPoolExecutor() as pool:
        futures = [pool.submit(start_zkeeper, tmp_path_factory.mktemp("zkeeper"))]
        if reference_available() and ZKCLI_SH.exists():
            futures += [pool.submit(start_reference, tmp_path_factory.mktemp("ref_java")),
                        pool.submit(start_reference, tmp_path_factory.mktemp("ref_ours"))]
        concurrent.futures.wait(futures)
    started = [f.result() for f in futures if f.exception() is None]
    try:
        if len(started) < len(futures):
            raise RuntimeError("a server did not start: " + "; ".join(str(f.exception()) for f in futures))
        yield Servers(started[0], *(started[1:] or [None, None]))
    finally:
        for s in started:
            s.stop()


@pytest.fixture(scope="module")
def script_runs(servers: Servers) -> dict[str, Run]:
    """The script, once per (CLI, server) pair, all three at the same time."""
    def script_for(port: int) -> str:
        return SCRIPT.replace("PORT", str(port)).lstrip()

    ref_java, ref_ours = servers.references()
    with concurrent.futures.ThreadPoolExecutor() as pool:
        java = pool.submit(zkcli_sh, ref_java.port, script=script_for(ref_java.port))
        ours_ref = pool.submit(zkcli, ref_ours.port, script=script_for(ref_ours.port))
        ours_zk = pool.submit(zkcli, servers.zkeeper.port, script=script_for(servers.zkeeper.port))
        return {"zkCli.sh@zookeeper": java.result(), "zkCli@zookeeper": ours_ref.result(),
                "zkCli@zkeeper": ours_zk.result()}


# ---- (1) the same script, the same output ---------------------------------------------

# zkeeper does not yet keep quota usage in /zookeeper/quota/<path>/zookeeper_stats, so
# `listquota` reports count=0,bytes=0 there (and setquota never warns about usage).
QUOTA_USAGE = (r"^Output stat for ", r"^\[Warning\]: the (count|bytes) quota")


# ZKUtil.deleteInBatch (3.8) releases its semaphore in the multi callback *before* it
# records the failure, so when the machine is busy zkCli.sh's `deleteall /zookeeper` can
# read "success" first and stay silent. Ours always reports the failed batch (what the
# code means to do); the line is left out of the comparison and checked on its own.
DELETEALL_RACE = (r"^Failed to delete some node\(s\) in the subtree!$",)


def assert_reports_failed_deleteall(ours: Run) -> None:
    assert normalize_stderr(ours.err).count("Failed to delete some node(s) in the subtree!") == 1


@needs_reference
def test_script_output_matches_zkcli_sh(script_runs: dict[str, Run]) -> None:
    reference = script_runs["zkCli.sh@zookeeper"]
    assert "Node already exists: /app/cfg" in reference.err  # the script really ran
    assert_runs_match(reference, script_runs["zkCli@zookeeper"], skip=DELETEALL_RACE)
    assert_reports_failed_deleteall(script_runs["zkCli@zookeeper"])


@needs_reference
def test_script_output_on_zkeeper_matches_zkcli_sh_on_zookeeper(script_runs: dict[str, Run]) -> None:
    assert_runs_match(script_runs["zkCli.sh@zookeeper"], script_runs["zkCli@zkeeper"],
                      skip=QUOTA_USAGE + DELETEALL_RACE)
    assert_reports_failed_deleteall(script_runs["zkCli@zkeeper"])


@needs_reference
@pytest.mark.xfail(strict=True, reason="zkeeper server does not track quota usage (zookeeper_stats) yet")
def test_quota_usage_on_zkeeper_matches_zookeeper(script_runs: dict[str, Run]) -> None:
    def usage(run: Run) -> list[str]:
        return [ln for ln in run.out.splitlines() if ln.startswith("Output stat for ")]

    assert usage(script_runs["zkCli@zkeeper"]) == usage(script_runs["zkCli.sh@zookeeper"])


ONE_SHOT = [
    ("create", "/oneshot", "some data"),
    ("get", "/oneshot"),
    ("create", "/oneshot"),
    ("get", "/nope"),
    ("ls", "/oneshot"),
    ("ls",),
    ("bogus",),
    ("set", "/oneshot", "-1"),
    ("version",),
    ("delete", "/oneshot"),
]


@needs_reference
def test_one_shot_commands_match_zkcli_sh(servers: Servers) -> None:
    """A command on the command line runs alone; stdout, stderr and exit status as zkCli.sh."""
    ref_java, ref_ours = servers.references()
    runs = []
    with concurrent.futures.ThreadPoolExecutor() as pool:
        for args in ONE_SHOT:  # one after the other: each sees what the ones before did
            trio = (pool.submit(zkcli_sh, ref_java.port, *args), pool.submit(zkcli, ref_ours.port, *args),
                    pool.submit(zkcli, servers.zkeeper.port, *args))
            runs.append(tuple(f.result() for f in trio))
    for args, (java, ours_ref, ours_zk) in zip(ONE_SHOT, runs):
        for ours in (ours_ref, ours_zk):
            try:
                assert_runs_match(java, ours)
            except BaseException as e:
                raise AssertionError(f"zkCli {' '.join(args)}: {e}") from None
    assert [r[0].rc for r in runs] == [0, 0, 1, 1, 0, 1, 127, 1, 0, 0]


@needs_reference
def test_no_server_is_connection_loss_as_in_zkcli_sh() -> None:
    port = free_port()  # nothing listens there
    java, ours = zkcli_sh(port, "ls", "/"), zkcli(port, "ls", "/")
    assert_runs_match(java, ours)
    assert ours.rc == 1 and ours.err.strip() == "KeeperErrorCode = ConnectionLoss for /"


# ---- (2) an interactive session through a pty -------------------------------------------

PROMPT = r"\[zk: 127\.0\.0\.1:\d+\((CONNECTED|CONNECTING)\) \d+\] "


def spawn_shell(port: int, *args: str) -> Any:  # a pexpect.spawn, waiting at the first prompt
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "zkeeper.cli.zkcli", "-server", f"127.0.0.1:{port}", *args],
                          env=ENV, encoding="utf-8", timeout=15, dimensions=(40, 250))
    child.expect("JLine support is enabled")
    child.expect("WatchedEvent state:SyncConnected type:None path:null")
    return child


def test_interactive_session(servers: Servers) -> None:
    port = servers.zkeeper.port
    child = spawn_shell(port)
    try:
        child.sendline("create /ptyzone hello")
        child.expect("Created /ptyzone")
        child.expect(PROMPT)
        child.sendline("get /ptyzone")
        child.expect("hello")
        child.expect(r"\[zk: 127\.0\.0\.1:\d+\(CONNECTED\) 2\] ")  # two commands so far

        # Tab completes commands and znode paths.
        child.send("getAl\t")
        child.expect("getAllChildrenNumber ")
        child.sendline("/ptyzone")
        child.expect(r"\r\n0\r\n")
        child.expect(PROMPT)
        child.send("stat /ptyz\t")
        child.expect("/ptyzone")
        child.sendline("")
        child.expect("dataLength = 5")
        child.expect(PROMPT)

        # Up-arrow brings back the last line (readline history).
        child.send("\x1b[A")
        child.sendline("")
        child.expect("dataLength = 5")
        child.expect(PROMPT)

        # A watch set here fires when another client changes the node.
        child.sendline("get -w /ptyzone")
        child.expect("hello")
        child.expect(PROMPT)
        with SyncClient(f"127.0.0.1:{port}") as other:
            other.set("/ptyzone", b"changed")
        child.expect("WATCHER::")
        child.expect("WatchedEvent state:SyncConnected type:NodeDataChanged path:/ptyzone")

        child.sendline("delete /ptyzone")
        child.expect(PROMPT)
        child.sendline("ls /")
        child.expect(r"\r\n(\[[^\]\r\n]*\])\r\n")
        assert "zookeeper" in child.match.group(1) and "ptyzone" not in child.match.group(1)
        child.sendline("history")
        child.expect(r"0 - create /ptyzone hello")
        child.expect(PROMPT)
        child.sendline("quit")
        child.expect("WatchedEvent state:Closed type:None path:null")
        child.expect(pytest.importorskip("pexpect").EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_connection_loss_and_session_expiry_are_told(tmp_path: Path) -> None:
    """The server goes away: Disconnected, requests fail with ConnectionLoss; it comes
    back: SyncConnected, same session. The shell sleeps past its session timeout:
    Expired, the session is closed (prompt CLOSED, "Not connected"); connect starts anew."""
    server = start_zkeeper(tmp_path / "zk", tick_time=200)
    child = None
    try:
        child = spawn_shell(server.port, "-timeout", "1000")
        child.sendline("create -e /mine x")
        child.expect("Created /mine")
        child.expect(PROMPT)
        server.kill()
        child.expect("WatchedEvent state:Disconnected type:None path:null")
        child.sendline("get /mine")
        child.expect("KeeperErrorCode = ConnectionLoss for /mine")
        server = restart_server(server)
        child.expect("WatchedEvent state:SyncConnected type:None path:null")
        child.sendline("get /mine")
        child.expect("x\r\n")
        child.expect(PROMPT)

        os.kill(child.pid, signal.SIGSTOP)  # silent past the session timeout: the server expires it
        time.sleep(2.5)
        os.kill(child.pid, signal.SIGCONT)
        child.expect("WatchedEvent state:Expired type:None path:null")
        child.sendline("ls /")
        child.expect("Not connected")
        child.expect(r"\[zk: 127\.0\.0\.1:\d+\(CLOSED\) \d+\] ")
        child.sendline("connect")
        child.expect("WatchedEvent state:SyncConnected type:None path:null")
        child.sendline("ls /")
        child.expect(r"\[zookeeper\]")  # the expired session's ephemeral node is gone
        child.sendline("quit")
        child.expect(pytest.importorskip("pexpect").EOF)
    finally:
        if child is not None:
            child.close(force=True)
        server.stop()


# ---- (3) zkCli.sh against a zkeeper server ----------------------------------------------


@needs_reference
def test_zkcli_sh_works_against_zkeeper(servers: Servers) -> None:
    run = zkcli_sh(servers.zkeeper.port, script="\n".join([
        "create /javazone",
        "create /javazone/a first",
        "ls /javazone",
        "get -s -w /javazone/a",
        "set /javazone/a second",
        "get /javazone/a",
        "delete /javazone/a",
        "ls /javazone",
        "delete /javazone",
        "stat /javazone",
        "quit",
    ]) + "\n")
    out, events = normalize_stdout(run.out)
    assert run.rc == 1  # quit exits with the status of the command before it (stat failed)
    assert normalize_stderr(run.err) == ["Created /javazone", "Created /javazone/a", "Node does not exist: /javazone"]
    body = out[out.index("JLine support is disabled") + 1:]
    assert body[:3] == ["[a]", "first", "cZxid = " + body[2].split(" = ")[1]]
    stat = dict(line.split(" = ", 1) for line in body[2:13])
    assert stat["dataVersion"] == "0" and stat["dataLength"] == "5" and stat["ephemeralOwner"] == "0x0"
    assert int(stat["cZxid"], 16) == int(stat["mZxid"], 16) > 0
    assert body[13:] == ["second", "[]"]
    assert events == ["WatchedEvent state:SyncConnected type:NodeDataChanged path:/javazone/a"]


# ---- the pure parts ----------------------------------------------------------------------


def test_split_line_like_zookeeper_main() -> None:
    assert split_line('create /a "hello world"  \'x y\' z') == ["create", "/a", "hello world", "x y", "z"]
    assert split_line("create /q2 'it''s'") == ["create", "/q2", "it", "s"]
    assert split_line('set /a ""') == ["set", "/a", ""]
    assert split_line("   ") == [" "]  # zkCli.sh then says "Command not found"; we skip blank lines


def test_options_like_commons_cli() -> None:
    spec = OptionSpec((Opt("s"), Opt("e"), Opt("t", True), Opt("v", True)))
    p = parse_options(spec, ["create", "-se", "/x", "-t100", "data"])
    assert p.args == ["create", "/x", "data"] and p.has("s") and p.has("e") and p.value("t") == "100"
    assert parse_options(spec, ["set", "-v", "-1", "/x"]).value("v") == "-1"
    assert parse_options(spec, ["set", "-v=3", "--", "-s"]).args == ["set", "-s"]
    with pytest.raises(ParseError, match="UnrecognizedOptionException: Unrecognized option: -x"):
        parse_options(spec, ["ls", "-x"])
    with pytest.raises(MissingArgument, match="Missing argument for option: t"):
        parse_options(spec, ["create", "-t", "-e", "/x"])
    quota = OptionSpec((Opt("n", True, "num soft quota"), Opt("b", True, "bytes soft quota")),
                       (Group(("n", "b"), required=True),))
    with pytest.raises(ParseError, match=r"MissingOptionException: Missing required option: "
                                         r"\[-n num soft quota, -b bytes soft quota\]"):
        parse_options(quota, ["setquota", "/a"])
    with pytest.raises(ParseError, match="The option 'n' was specified but an option from this group "
                                         "has already been selected: 'b'"):
        parse_options(quota, ["setquota", "-b", "1", "-n", "2", "/a"])


def test_formats() -> None:
    assert java_hex(-0x8000000000000000) == "8000000000000000"
    assert re.fullmatch(JAVA_DATE, java_date(1_700_000_000_000))
    assert java_date(0) == time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(0))
    assert str(StatsTrack("count=5,bytes=-1=;countHardLimit=10;byteHardLimit=-1")) == \
        "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=10"
    assert str(StatsTrack("count=1,bytes=1")) == "count=1,bytes=1"
    assert path_error("a") == "Path must start with / character"
    assert path_error("/a//b") == 'Invalid path string "/a//b" caused by empty node name specified @3'
    assert watcher_message(EventType.NODE_CREATED, KeeperState.SYNC_CONNECTED, "/a") == \
        "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeCreated path:/a\n"
