"""A separate process taking part in a recipe, for the multi-process contention tests.

    python tests/recipes/worker.py counter HOSTS PATH TIMES
    python tests/recipes/worker.py lock HOSTS PATH TIMES LOGFILE
    python tests/recipes/worker.py elect HOSTS PATH NAME LOGFILE

Prints "ready" once connected; exits 0 when its work is done (elect runs until killed).
"""

from __future__ import annotations

import asyncio
import os
import sys

from zkeeper.client import Client
from zkeeper.recipes import Counter, Election, Lock


def log_line(path: str, line: str) -> None:
    # O_APPEND writes of one short line land whole, in the order they happen.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


async def counter(hosts: str, path: str, times: str) -> None:
    async with Client(hosts) as client:
        print("ready", flush=True)
        c = Counter(client, path)
        for _ in range(int(times)):
            await c.add(1)


async def lock(hosts: str, path: str, times: str, logfile: str) -> None:
    me = str(os.getpid())
    async with Client(hosts) as client:
        print("ready", flush=True)
        the_lock = Lock(client, path, me)
        for _ in range(int(times)):
            async with the_lock:
                log_line(logfile, f"enter {me}")
                await asyncio.sleep(0.005)
                log_line(logfile, f"exit {me}")


async def elect(hosts: str, path: str, name: str, logfile: str) -> None:
    async with Client(hosts, timeout=2.0) as client:
        print("ready", flush=True)

        async def lead() -> None:
            log_line(logfile, f"leader {name}")
            await asyncio.Event().wait()  # lead until this process dies

        await Election(client, path, name).run(lead)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    asyncio.run({"counter": counter, "lock": lock, "elect": elect}[command](*args))
