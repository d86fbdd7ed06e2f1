"""zkCli: ZooKeeper's command-line shell, as Apache ZooKeeper 3.8's zkCli.sh behaves.

    zkCli [-server host:port[,host:port...][/chroot]] [-timeout ms] [-r] [command args...]

With a command it runs that one command and exits with its status (0, 1 when it failed,
127 for an unknown command). Without one it is a shell: a `[zk: host(STATE) n]` prompt,
line editing, history and tab completion of commands and znode paths when stdin is a
terminal; lines read as they come otherwise (so a script can be piped in). Output,
messages and exit statuses are zkCli.sh's; see zkcli_commands for the commands.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..client import State, ZookeeperError
from ..client.hosts import parse_connect_string
from .zkcli_args import split_line
from .zkcli_commands import COMMANDS, SHELL_COMMANDS, CliError, number_error, synopses
from .zkcli_format import error_message, usage_lines
from .zkcli_session import Connection, Console, LoopThread

DEFAULT_SERVER = "localhost:2181"
DEFAULT_TIMEOUT_MS = 30000
HISTORY_SHOWN = 10  # `history` shows the last ten lines and itself


class Quit(Exception):
    """`quit` was typed: leave with the status of the command before it."""


@dataclass
class Options:
    server: str = DEFAULT_SERVER
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    read_only: bool = False
    wait_for_connection: bool = False
    command: list[str] | None = None


def parse_main_args(argv: Sequence[str], console: Console) -> Options:
    """ZooKeeperMain.parseOptions: flags up to the first word not starting with "-",
    which begins the command. Unknown flags are ignored, as zkCli.sh does."""
    opts = Options()
    it = iter(argv)
    for word in it:
        try:
            if word == "-server":
                opts.server = next(it)
            elif word == "-timeout":
                text = next(it)
                try:
                    opts.timeout_ms = int(text)
                except ValueError:
                    raise number_error(text) from None
            elif word == "-r":
                opts.read_only = True
            elif word == "-client-configuration":
                next(it)  # Java client properties; nothing here reads them
            elif word == "-waitforconnection":
                opts.wait_for_connection = True
        except StopIteration:
            console.err(f"Error: no argument found for option {word}")
            return opts
        if not word.startswith("-"):
            opts.command = [word, *it]
            break
    return opts


def java_decode(text: str) -> int:
    """Integer.decode: decimal, 0x/# hex or 0 octal, with an optional sign."""
    t, sign = text, 1
    if t[:1] in "+-" and t:
        sign, t = (-1 if t[0] == "-" else 1), t[1:]
    try:
        if t.lower().startswith("0x"):
            return sign * int(t[2:], 16)
        if t.startswith("#"):
            return sign * int(t[1:], 16)
        if len(t) > 1 and t.startswith("0"):
            return sign * int(t[1:], 8)
        if t.isdigit():
            return sign * int(t)
    except ValueError:
        pass
    raise number_error(text)


class Shell:
    """ZooKeeperMain: the session, the history, and one line at a time."""

    def __init__(self, opts: Options, console: Console) -> None:
        self.opts = opts
        self.console = console
        self.loop = LoopThread()
        self.conn: Connection | None = None
        self.host = ""
        self.history: dict[int, str] = {}
        self.count = 0
        self.print_watches = True
        self.exit_code = 0

    # ---- the session -----------------------------------------------------------

    def connect(self, host: str) -> None:
        if self.conn is not None and self.conn.alive:
            self.loop.run(self.conn.close())
        self.host = host
        try:
            parse_connect_string(host)
        except ValueError:
            self.conn = None
            raise CliError(f"Invalid connect string: {host}") from None
        self.conn = self.loop.run(self._open(host))

    async def _open(self, host: str) -> Connection:
        conn = Connection(host, self.opts.timeout_ms, self.opts.read_only, self.console,
                          lambda: self.print_watches)
        conn.start()
        return conn

    def wait_connected(self) -> bool:
        conn = self.conn
        if conn is None:
            return False

        async def wait() -> bool:
            try:
                await conn.ready(None)
            except ZookeeperError:
                return False
            return True

        return self.loop.run(wait())

    def shutdown(self) -> None:
        """Leave: the session is closed without a "Closed" event (zkCli.sh just exits)."""
        if self.conn is not None:
            try:
                self.loop.run(self.conn.close(quiet=True))
            except Exception:
                pass
        self.loop.stop()

    def prompt(self) -> str:
        state = self.conn.state_name if self.conn is not None else "CLOSED"
        return f"[zk: {self.host}({state}) {self.count}] "

    # ---- lines and commands ----------------------------------------------------

    def execute_line(self, line: str) -> None:
        if not line.strip():
            return
        self.history[self.count] = line
        self.process(split_line(line))
        self.count += 1

    def process(self, words: list[str]) -> None:
        """Run one command; remember its exit status; print its failure on stderr."""
        try:
            self._process(words)
            self.exit_code = 0
        except CliError as e:
            self.exit_code = e.exit_code
            self.console.err(str(e))
        except ZookeeperError as e:
            self.exit_code = 1
            self.console.err(error_message(e))

    def _usage(self) -> None:
        for line in usage_lines(synopses()):
            self.console.err(line)

    def _process(self, words: list[str]) -> None:
        if not words:
            self._usage()
            raise CliError("No command entered")
        cmd = words[0]
        if cmd not in COMMANDS and cmd not in SHELL_COMMANDS:
            self._usage()
            raise CliError(f"Command not found: Command not found {cmd}", 127)
        if cmd == "quit":
            if self.conn is not None and self.conn.alive:
                self.loop.run(self.conn.close())
            raise Quit()
        if cmd == "redo" and len(words) >= 2:
            self._redo(words[1])
        elif cmd == "history":
            for i in range(max(self.count - HISTORY_SHOWN, 0), self.count + 1):
                self.console.out(f"{i} - {self.history.get(i)}")
        elif cmd == "printwatches":
            if len(words) == 1:
                self.console.out(f"printwatches is {'on' if self.print_watches else 'off'}")
            else:
                self.print_watches = words[1] == "on"
        elif cmd == "connect":
            self.connect(words[1] if len(words) >= 2 else self.host)
        # Like zkCli.sh, even the shell's own commands end here when the session is gone.
        if self.conn is None or not self.conn.alive:
            self.console.out("Not connected")
            return
        command = COMMANDS.get(cmd)
        if command is not None:
            parsed = command.parse(self.conn, words)
            self.loop.run(command.run(self.conn, parsed))

    def _redo(self, number: str) -> None:
        i = java_decode(number)
        if self.count <= i or i < 0:
            raise CliError("Command index out of range")
        line = self.history[i]
        words = split_line(line)
        if words and words[0] == "redo":
            raise CliError("No redoing redos")
        self.history[self.count] = line
        self.process(words)

    # ---- reading lines ---------------------------------------------------------

    def interact(self) -> None:
        self.console.out("Welcome to ZooKeeper!")
        if sys.stdin.isatty():
            self.console.out("JLine support is enabled")
            self._settle()
            self._read_terminal()
        else:
            self.console.out("JLine support is disabled")
            for line in sys.stdin:
                self.execute_line(line.rstrip("\r\n"))

    def _settle(self, timeout: float = 1.0) -> None:
        """Give the first connection a moment, so the first prompt shows how it went."""
        conn = self.conn
        if conn is None:
            return

        async def wait() -> None:
            try:
                await conn.client.wait_for_state(State.CONNECTED, State.READ_ONLY, timeout=timeout)
            except TimeoutError:
                pass

        self.loop.run(wait())

    def _read_terminal(self) -> None:
        _setup_readline(self)
        while True:
            try:
                line = input(self.prompt())
            except EOFError:
                self.console.out("")
                return
            except KeyboardInterrupt:
                self.console.out("")  # a fresh prompt, as a shell does
                continue
            try:
                self.execute_line(line)
            except KeyboardInterrupt:
                self.console.err("Interrupted")
                self.count += 1

    # ---- tab completion ----------------------------------------------------------

    def completions(self, text: str, first_word: bool) -> list[str]:
        """Command names for the first word, child znodes for a word starting with "/"."""
        if text.startswith("/"):
            return self._znode_completions(text)
        if first_word:  # the space readline would add after a unique match (Python's module does not)
            return sorted(f"{c} " for c in [*COMMANDS, *SHELL_COMMANDS] if c.startswith(text))
        return []

    def _znode_completions(self, text: str) -> list[str]:
        conn = self.conn
        if conn is None or not conn.client.connected:
            return []
        cut = text.rfind("/") + 1
        parent = "/" if cut == 1 else text[:cut - 1]
        prefix = text[cut:]

        async def children() -> list[str]:
            try:
                async with asyncio.timeout(2.0):
                    return list(await conn.client.get_children(parent))
            except Exception:
                return []

        return sorted(text[:cut] + c for c in self.loop.run(children()) if c.startswith(prefix))


def _setup_readline(shell: Shell) -> None:
    try:
        import readline
    except ImportError:  # no line editing on this platform; input() still works
        return
    matches: list[str] = []

    def complete(text: str, state: int) -> str | None:
        nonlocal matches
        if state == 0:
            before = readline.get_line_buffer()[:readline.get_begidx()]
            matches = shell.completions(text, first_word=not before.strip())
        return matches[state] if state < len(matches) else None

    readline.set_completer_delims(" \t\n")
    readline.set_completer(complete)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")


def _quiet_client_logs() -> None:
    # The client logs its reconnects; the shell tells the operator in zkCli.sh's words.
    log = logging.getLogger("zkeeper")
    log.addHandler(logging.NullHandler())
    log.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # unencodable text shows as "?" rather than failing
            stream.reconfigure(errors="replace")
    _quiet_client_logs()
    console = Console()
    try:
        opts = parse_main_args(list(sys.argv[1:] if argv is None else argv), console)
    except CliError as e:
        console.err(str(e))
        return 1
    console.out(f"Connecting to {opts.server}")
    shell = Shell(opts, console)
    try:
        try:
            shell.connect(opts.server)
        except CliError as e:
            console.err(str(e))
            return 1
        if opts.wait_for_connection and not shell.wait_connected():
            console.err("KeeperErrorCode = ConnectionLoss")
            return 1
        if opts.command is not None:
            shell.process(opts.command)
        else:
            shell.interact()
        return shell.exit_code
    except Quit:
        return shell.exit_code
    except KeyboardInterrupt:
        return 130
    finally:
        shell.shutdown()


if __name__ == "__main__":
    sys.exit(main())
