"""zkCleanup as an operator runs it: keeps the newest N snapshots and the logs they need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from zkeeper.jute import CreateTxn, TxnHeader
from zkeeper.storage import TxnLogWriter, write_snapshot
from zkeeper.tree.acl import OPEN_ACL_UNSAFE
from zkeeper.tree.datatree import DataTree
from zkeeper.types import OpCode

from tests.support.servers import REPO_ROOT


def _history(data: Path) -> None:
    """Five snapshot/log generations: a snapshot every 4 txns, the log rolled at each."""
    tree = DataTree()
    writer = TxnLogWriter(data, prealloc_size=4096)
    zxid = 0
    for generation in range(5):
        write_snapshot(tree, {}, zxid, data)
        for _ in range(4):
            zxid += 1
            hdr = TxnHeader(0, zxid, zxid, 0, OpCode.CREATE)
            txn = CreateTxn(f"/n{zxid}", b"", list(OPEN_ACL_UNSAFE), False, -1)
            writer.append(hdr, txn)
            tree.apply(hdr, txn)
        writer.roll()
    writer.close()


def _zxids(data: Path, prefix: str) -> list[int]:
    return sorted(int(p.name.split(".")[1], 16) for p in (data / "version-2").iterdir() if p.name.startswith(prefix + "."))


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "zkeeper.cli.zkcleanup", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_keeps_the_newest_three_snapshots_and_the_logs_they_need(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _history(data)
    assert _zxids(data, "snapshot") == [0, 4, 8, 12, 16]
    assert _zxids(data, "log") == [1, 5, 9, 13, 17]
    out = _run(str(data), "-n", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert _zxids(data, "snapshot") == [8, 12, 16]
    # As PurgeTxnLog: logs after the oldest kept snapshot, plus the newest one that
    # starts at or before it (it may hold txns past the snapshot).
    assert _zxids(data, "log") == [5, 9, 13, 17]
    assert "Removing file:" in out.stdout


def test_reads_the_directories_from_zoo_cfg_and_refuses_fewer_than_three(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _history(data)
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=2000\ndataDir={data}\nclientPort=2181\n")
    assert _run("-n", "2", str(cfg), cwd=tmp_path).returncode != 0
    assert _run("-n", "4", str(cfg), cwd=tmp_path).returncode == 0
    assert _zxids(data, "snapshot") == [4, 8, 12, 16]
