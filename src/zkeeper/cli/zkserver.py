"""zkServer: run a zkeeper server the way zkServer.sh runs ZooKeeper.

`zkServer start-foreground [zoo.cfg]`; without a config path, `conf/zoo.cfg` is used
when present, else built-in defaults (standalone on port 2181, data under ./data).
A bad config is reported with file, line and key, and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .. import ZOOKEEPER_COMPAT_VERSION, __version__
from ..server.config import ConfigError, ServerConfig, default_config, load_config

log = logging.getLogger("zkeeper")
DEFAULT_CONFIG = Path("conf") / "zoo.cfg"


def resolve_config(path: str | None) -> ServerConfig:
    if path:
        return load_config(path)
    if DEFAULT_CONFIG.exists():
        return load_config(DEFAULT_CONFIG)
    return default_config(os.getcwd())


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s [myid:] - %(levelname)-5s [%(name)s] - %(message)s",
        stream=sys.stderr,
    )


async def serve(config: ServerConfig) -> None:
    from ..server.standalone import ZooKeeperServer

    server = ZooKeeperServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await server.stop()


def _run(config: ServerConfig) -> None:
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zkServer", description="Run a zkeeper (ZooKeeper) server.")
    parser.add_argument("command", choices=["start-foreground", "version", "print-cmd"])
    parser.add_argument("config", nargs="?", help="path to zoo.cfg (default conf/zoo.cfg, else built-in defaults)")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"zkeeper {__version__} (Apache ZooKeeper {ZOOKEEPER_COMPAT_VERSION} compatible)")
        return 0
    if args.command == "print-cmd":
        cfg = [args.config] if args.config else []
        print(" ".join([sys.executable, "-m", "zkeeper.cli.zkserver", "start-foreground", *cfg]))
        return 0
    setup_logging(os.environ.get("ZKEEPER_LOG_LEVEL", "INFO"))
    try:
        config = resolve_config(args.config)
    except ConfigError as e:
        print(f"Invalid config, exiting abnormally: {e}", file=sys.stderr)
        return 2
    _run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
