"""Start worker processes (worker.py) against a server, and collect them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import REPO_ROOT

WORKER = Path(__file__).with_name("worker.py")


def spawn(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, str(WORKER), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"worker did not start: {line!r}\n{err}")


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> None:
    """Wait for every worker; fail with the stderr of any that failed."""
    failures = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            failures.append(f"pid {p.pid} timed out\n{err}")
            continue
        if p.returncode != 0:
            failures.append(f"pid {p.pid} exited {p.returncode}\n{err}")
    assert not failures, "\n".join(failures)


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()
