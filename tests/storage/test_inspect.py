"""The inspection tool prints logs and snapshots readably and flags damage."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from zkeeper.storage.inspect import main

from .helpers import Scenario, build_mixed, log_paths, persist

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out)
    return code, out.getvalue()


def test_log_dump(tmp_path: Path) -> None:
    sc = Scenario(with_digests=True)
    roles = build_mixed(sc)
    persist(sc, tmp_path)
    (log,) = log_paths(tmp_path)
    code, text = _run("log", str(log))
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"
    assert lines[-1] == f"EOF reached after {len(sc.logged)} txns."
    assert f"session 0x{roles['live']:x} cxid 0x1 zxid 0x1 createSession" in lines[1]
    assert any(" create /app,root of app,[31:world:anyone],false,1 " in line for line in lines)
    assert any(" multi create:/multi,m," in line for line in lines)
    assert any(" closeSession CloseSessionTxn(paths2Delete=['/app/goner'])" in line for line in lines)
    assert all("[digest v2 " in line for line in lines[1:-1])


def test_log_damage_is_reported(tmp_path: Path) -> None:
    sc = Scenario()
    build_mixed(sc)
    persist(sc, tmp_path)
    (log,) = log_paths(tmp_path)
    data = bytearray(log.read_bytes())
    data[200] ^= 0xFF
    log.write_bytes(bytes(data))
    code, text = _run("log", str(log))
    assert code == 1 and "CORRUPT after 2 txns at offset" in text and "valid records follow" in text
    with open(log, "r+b") as f:
        f.truncate(190)
    code, text = _run("log", str(log))
    assert code == 1 and "TORN TAIL after" in text


def test_snapshot_dump(tmp_path: Path) -> None:
    sc = Scenario(keep_views=True)
    roles = build_mixed(sc)
    (_, snap) = persist(sc, tmp_path, snapshots=(0, sc.last_zxid))
    code, text = _run("snapshot", str(snap))
    assert code == 0
    assert f"ZNode Details (count={len(sc.tree.nodes)}):" in text
    assert "/app/eph\n  cZxid = 0x00000000000005\n" in text
    assert f"  ephemeralOwner = {roles['live']:#016x}" in text
    assert f"{roles['live']:#016x}, 60000, 2" in text  # session, timeout, ephemerals
    assert f"Target zxid digest is: {sc.last_zxid:x}, " in text
    assert text.endswith(f"Last zxid: 0x{sc.last_zxid:x}\n")
    code, text = _run("snapshot", "-d", str(snap))
    assert "  data = cm9vdCBvZiBhcHA=" in text  # base64 of b"root of app"


def test_runs_as_a_module(tmp_path: Path) -> None:
    sc = Scenario()
    build_mixed(sc)
    (snap,) = persist(sc, tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-m", "zkeeper.storage.inspect", "snapshot", str(snap)],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "ZNode Details (count=4):" in done.stdout
    done = subprocess.run([sys.executable, "-m", "zkeeper.storage.inspect", "log", str(tmp_path / "nope")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
