"""zkServer: run a zkeeper server the way zkServer.sh runs ZooKeeper.

`zkServer {start|start-foreground|stop|restart|status|print-cmd|version} [zoo.cfg]`
(and `zkServer ensemble ...`, a local ensemble: see cli/ensemble.py);
without a config path, `conf/zoo.cfg` is used when present, else built-in defaults
(standalone on port 2181, data under ./data). Messages and exit codes follow
zkServer.sh; `start` returns once the server answers, `status` asks `srvr` for the mode.
A bad config is reported with file, line and key, and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import time
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


class _MyId(logging.Filter):
    """ZooKeeper's `[myid:N]` log prefix: empty until a replicated config names this server."""

    myid = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.myid = self.myid
        return True


MYID = _MyId()


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s [myid:%(myid)s] - %(levelname)-5s [%(name)s] - %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(MYID)


async def serve(config: ServerConfig) -> None:
    from ..server.quorum_peer import QuorumPeer
    from ..server.standalone import ZooKeeperServer

    server: ZooKeeperServer | QuorumPeer
    if config.is_replicated:
        MYID.myid = str(config.myid)
        server = QuorumPeer(config)
    else:
        server = ZooKeeperServer(config)
    # This process is the server: the recovered tree is long-lived and cycle-free, so
    # keep the cyclic GC off it and collect the requests' young objects less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
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


def _foreground_cmd(config_arg: str | None) -> list[str]:
    cfg = [os.path.abspath(config_arg)] if config_arg else []
    return [sys.executable, "-m", "zkeeper.cli.zkserver", "start-foreground", *cfg]


def _pid_file(config: ServerConfig) -> Path:
    return Path(config.data_dir) / "zookeeper_server.pid"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _client_address(config: ServerConfig) -> tuple[str, int]:
    addr = config.client_port_address
    return ("localhost" if addr in ("", "0.0.0.0") else addr), config.client_port


def _ask_mode(config: ServerConfig, timeout: float = 2.0) -> str | None:
    host, port = _client_address(config)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"srvr")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line
    return None


def launch(config: ServerConfig, config_arg: str | None, log_dir: Path | None = None) -> subprocess.Popen[bytes]:
    """Run `start-foreground` in the background, in its own session: output appended to
    zookeeper.out in log_dir (default $ZOO_LOG_DIR, else dataDir), pid file in dataDir."""
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    if log_dir is None:
        log_dir = Path(os.environ.get("ZOO_LOG_DIR", config.data_dir))
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "zookeeper.out", "ab") as out:
        proc = subprocess.Popen(_foreground_cmd(config_arg), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(config).write_text(str(proc.pid))
    return proc


def cmd_start(config: ServerConfig, config_arg: str | None, wait_s: float = 30.0) -> int:
    print("Starting zookeeper ... ", end="", flush=True)
    pid_file = _pid_file(config)
    old = _read_pid(pid_file)
    if old is not None and _alive(old):
        print(f"already running as process {old}.")
        return 1
    proc = launch(config, config_arg)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print("FAILED TO START")
            pid_file.unlink(missing_ok=True)
            return 1
        if _ask_mode(config, timeout=0.5) is not None:
            print("STARTED")
            return 0
        time.sleep(0.05)
    print("FAILED TO START")
    return 1


def cmd_stop(config: ServerConfig, wait_s: float = 30.0) -> int:
    print("Stopping zookeeper ... ", end="", flush=True)
    pid_file = _pid_file(config)
    pid = _read_pid(pid_file)
    if pid is None:
        print(f"no zookeeper to stop (could not find file {pid_file})")
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + wait_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    print("STOPPED")
    return 0


def cmd_status(config: ServerConfig) -> int:
    host, port = _client_address(config)
    print(f"Client port found: {port}. Client address: {host}. Client SSL: false.")
    mode = _ask_mode(config)
    if mode is None:
        print("Error contacting service. It is probably not running.")
        return 1
    print(mode)
    return 0


COMMANDS = ["start", "start-foreground", "stop", "restart", "status", "print-cmd", "version"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ensemble"]:
        from .ensemble import main as ensemble_main
        return ensemble_main(argv[1:])
    parser = argparse.ArgumentParser(prog="zkServer", description="Run a zkeeper (ZooKeeper) server.",
                                     epilog="`zkServer ensemble {start|status|stop}` runs a local ensemble.")
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("config", nargs="?", help="path to zoo.cfg (default conf/zoo.cfg, else built-in defaults)")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(f"Apache ZooKeeper, version {ZOOKEEPER_COMPAT_VERSION}-zkeeper-{__version__}")
        return 0
    if args.command == "print-cmd":
        print(" ".join(_foreground_cmd(args.config)))
        return 0
    foreground = args.command == "start-foreground"
    if foreground:
        setup_logging(os.environ.get("ZKEEPER_LOG_LEVEL", "INFO"))
    try:
        config = resolve_config(args.config)
    except ConfigError as e:
        print(f"Invalid config, exiting abnormally: {e}", file=sys.stderr)
        return 2
    if not foreground:
        print(f"Using config: {config.config_path or '(built-in defaults)'}", file=sys.stderr)
    if foreground:
        _run(config)
        return 0
    if args.command == "start":
        return cmd_start(config, args.config)
    if args.command == "stop":
        return cmd_stop(config)
    if args.command == "restart":
        cmd_stop(config)
        return cmd_start(config, args.config)
    return cmd_status(config)


if __name__ == "__main__":
    sys.exit(main())
