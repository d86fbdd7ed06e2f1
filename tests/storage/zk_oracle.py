"""Apache ZooKeeper's own storage code as an oracle: `ZkStorageOracle.java` calls
QuorumPeer's epoch files, FileTxnSnapLog.truncateLog, ZooKeeper's txn log iterator and
ZKDatabase.serializeSnapshot/deserializeSnapshot (the SNAP stream) on our files.

Compiled once per test run against Debian's zookeeper.jar; each call is one short JVM.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.servers import ZK_JAR, reference_available

_SOURCE = Path(__file__).with_name("ZkStorageOracle.java")

needs_zookeeper = pytest.mark.skipif(not (reference_available() and shutil.which("javac")),
                                     reason="Apache ZooKeeper or a JDK is not installed")


@functools.cache
def _classes() -> Path:
    out = Path(tempfile.mkdtemp(prefix="zk-oracle-"))
    atexit.register(shutil.rmtree, out, True)
    subprocess.run(["javac", "-nowarn", "-cp", str(ZK_JAR), "-d", str(out), str(_SOURCE)], check=True,
                   capture_output=True, timeout=120)
    return out


def zookeeper(*args: str | Path | int) -> list[str]:
    """Run one oracle command; its stdout lines (ZooKeeper's logging goes to stderr)."""
    cmd = ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-Dzookeeper.admin.enableServer=false",
           "-cp", f"{_classes()}:{ZK_JAR}", "ZkStorageOracle", *map(str, args)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"ZooKeeper oracle {args} failed:\n{done.stderr}")
    return done.stdout.splitlines()
