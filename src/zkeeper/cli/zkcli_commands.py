"""zkCli's server commands, one class each, as Apache ZooKeeper 3.8's zkCli.sh has them.

A command parses its words on the shell's thread (usage errors need no server) and
runs as a coroutine on the connection's loop, printing as it goes. Option letters,
usage strings, message texts, which stream each goes to and which failures end the
command are zkCli.sh's; `CliError` carries a failure's text and exit status.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from .. import ZOOKEEPER_COMPAT_VERSION, __version__
from ..client import (
    OPEN_ACL_UNSAFE,
    AddWatchMode,
    EphemeralOnLocalSessionError,
    InvalidACLError,
    NodeExistsError,
    NoNodeError,
    NoWatcherError,
    WatcherType,
    ZookeeperError,
)
from ..client.watches import WatchKind
from ..jute.records import ACL
from ..paths import join
from ..types import TTL_MAX_MS, CreateMode
from .zkcli_args import Group, Opt, OptionSpec, ParseError, Parsed, parse_options
from .zkcli_format import (
    LIMIT_NODE,
    QUOTA_ROOT,
    STAT_NODE,
    StatsTrack,
    acl_line,
    data_text,
    java_list,
    java_sorted,
    keeper_message,
    limit_path,
    parse_acl,
    path_error,
    stat_lines,
    stat_path,
)
from .zkcli_session import Connection

T = TypeVar("T")


class CliError(Exception):
    """A command failed: zkCli prints the text on stderr; the exit status for one-shot runs."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def number_error(text: str) -> CliError:
    # zkCli.sh dies here with Java's uncaught NumberFormatException; we report and go on.
    return CliError(f'java.lang.NumberFormatException: For input string: "{text}"')


def java_int(text: str, bits: int = 32) -> int:
    """Integer.parseInt / Long.parseLong: optional sign, decimal digits, in range."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise number_error(text)
    value = int(text)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise number_error(text)
    return value


def utf8(text: str) -> bytes:
    """A word's bytes; bytes the terminal sent that were not UTF-8 go through unchanged."""
    return text.encode("utf-8", "surrogateescape")


def check_path(path: str, sequential: bool = False) -> None:
    problem = path_error(path, sequential)
    if problem is not None:
        raise CliError(problem)


async def call(conn: Connection, path: str | None, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
    """One request, once the session is connected; errors carry `path` if they lack one."""
    await conn.ready(path)
    try:
        return await fn(*args, **kw)
    except ZookeeperError as e:
        if not e.path:
            e.path = path
        raise


class Command:
    name: ClassVar[str]
    synopsis: ClassVar[str]
    spec: ClassVar[OptionSpec] = OptionSpec()
    min_args: ClassVar[int] = 0  # words needed, the command name included, else usage
    deprecated: ClassVar[str | None] = None  # "ls path [watch]": warned about, a third word means -w
    third_word_is_watch: ClassVar[bool] = True

    @property
    def usage(self) -> str:
        return f"{self.name} {self.synopsis}"

    def parse(self, conn: Connection, words: Sequence[str]) -> Parsed:
        p = self._options(words)
        if len(p.args) < self.min_args:
            raise CliError(self.usage)
        if self.deprecated is not None and len(p.args) > 2:
            conn.console.err(self.deprecated)
            if self.third_word_is_watch:
                rewritten = list(words)
                rewritten[2] = "-w"
                p = self._options(rewritten)
        return p

    def _options(self, words: Sequence[str]) -> Parsed:
        try:
            return parse_options(self.spec, words)
        except ParseError as e:
            raise CliError(str(e)) from None

    async def run(self, conn: Connection, p: Parsed) -> None:
        raise NotImplementedError


def _watcher(conn: Connection, watch: bool) -> Connection | None:
    return conn if watch else None


def print_stat(conn: Connection, stat: Any) -> None:
    conn.console.out("\n".join(stat_lines(stat)))


async def visit_subtree(conn: Connection, path: str, watch: bool, visit: Callable[[str], Awaitable[None]]) -> None:
    """ZKUtil.visitSubTreeDFS: the node, then each level's children sorted, depth first."""
    check_path(path)
    await call(conn, path, conn.get_data, path, watch)
    await visit(path)
    await _visit_children(conn, path, watch, visit)


async def _visit_children(conn: Connection, path: str, watch: bool, visit: Callable[[str], Awaitable[None]]) -> None:
    try:
        children = java_sorted(await call(conn, path, conn.client.get_children, path, watch=_watcher(conn, watch)))
    except NoNodeError:
        return  # deleted while we walked
    for child in children:
        await visit(join(path, child))
    for child in children:
        await _visit_children(conn, join(path, child), watch, visit)


# ---- reading -----------------------------------------------------------------------


class Ls(Command):
    name, synopsis = "ls", "[-s] [-w] [-R] path"
    spec = OptionSpec((Opt("?", False, "help"), Opt("s", False, "stat"), Opt("w", False, "watch"),
                       Opt("R", False, "recurse")))
    deprecated = "'ls path [watch]' has been deprecated. Please use 'ls [-w] path' instead."
    HELP = "usage: ls [options] path\n -?   help\n -R   recurse\n -s   stat\n -w   watch"

    def parse(self, conn: Connection, words: Sequence[str]) -> Parsed:
        p = self._options(words)
        if p.has("?"):
            conn.console.out(self.HELP)
        return super().parse(conn, words)

    async def run(self, conn: Connection, p: Parsed) -> None:
        if len(p.args) < 2:
            raise CliError(self.usage)
        path, watch = p.args[1], p.has("w")
        if p.has("R"):
            async def show(node: str) -> None:
                conn.console.out(node)

            await visit_subtree(conn, path, watch, show)
            return
        check_path(path)
        children, stat = await call(conn, path, conn.client.get_children, path,
                                    watch=_watcher(conn, watch), include_data=True)
        conn.console.out(java_list(java_sorted(children)))
        if p.has("s"):
            print_stat(conn, stat)


class Get(Command):
    name, synopsis = "get", "[-s] [-w] path"
    spec = OptionSpec((Opt("s", False, "stats"), Opt("w", False, "watch")))
    min_args = 2
    deprecated = "'get path [watch]' has been deprecated. Please use 'get [-s] [-w] path' instead."

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        check_path(path)
        data, stat = await call(conn, path, conn.get_data, path, p.has("w"))
        conn.console.out(data_text(data))
        if p.has("s"):
            print_stat(conn, stat)


class StatCmd(Command):
    name, synopsis = "stat", "[-w] path"
    spec = OptionSpec((Opt("w", False, "watch"),))
    min_args = 2
    deprecated = "'stat path [watch]' has been deprecated. Please use 'stat [-w] path' instead."

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        check_path(path)
        stat = await call(conn, path, conn.client.exists, path, watch=_watcher(conn, p.has("w")))
        if stat is None:
            raise NoNodeError(path)
        print_stat(conn, stat)


class GetAcl(Command):
    name, synopsis = "getAcl", "[-s] path"
    spec = OptionSpec((Opt("s", False, "stats"),))
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        check_path(path)
        acls, stat = await call(conn, path, conn.client.get_acls, path)
        for acl in acls:
            conn.console.out(acl_line(acl))
        if p.has("s"):
            print_stat(conn, stat)


class GetEphemerals(Command):
    name, synopsis = "getEphemerals", "path"

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1] if len(p.args) >= 2 else "/"
        check_path(path)
        found = await call(conn, path, conn.client.get_ephemerals, path)
        # ZooKeeper's client hands these back as the server names them, chroot included.
        chroot = conn.client.chroot or ""
        conn.console.out(java_list(chroot + node for node in found))


class GetAllChildrenNumber(Command):
    name, synopsis = "getAllChildrenNumber", "path"

    async def run(self, conn: Connection, p: Parsed) -> None:
        if len(p.args) < 2:
            raise CliError(self.usage)
        path = p.args[1]
        check_path(path)
        conn.console.out(str(await call(conn, path, conn.client.get_all_children_number, path)))


class Sync(Command):
    name, synopsis = "sync", "path"
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        check_path(path)
        try:
            await call(conn, path, conn.client.sync, path)
        except ZookeeperError as e:
            conn.console.out(f"Sync has failed. rc={int(getattr(e, 'raw_code', e.code))}")
        else:
            conn.console.out("Sync is OK")


class Config(Command):
    name, synopsis = "config", "[-c] [-w] [-s]"
    spec = OptionSpec((Opt("s", False, "stats"), Opt("w", False, "watch"),
                       Opt("c", False, "client connection string")))

    async def run(self, conn: Connection, p: Parsed) -> None:
        data, stat = await call(conn, None, conn.get_data, "/zookeeper/config", p.has("w"), chrooted=False)
        text = data_text(data)
        conn.console.out(client_config(text) if p.has("c") else text)
        if p.has("s"):
            print_stat(conn, stat)


def client_config(config: str) -> str:
    """ConfigUtils.getClientConfigStr: `version host:port,host:port` of the servers' client ports."""
    version, addresses = "", []
    for line in config.splitlines():
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            continue
        if key == "version":
            version = value
        if not key.startswith("server."):
            continue
        _, semi, client = value.partition(";")
        if semi:
            host, colon, port = client.rpartition(":")
            addresses.append(f"{host if colon else '0.0.0.0'}:{port}")
    return f"{version} {','.join(addresses)}"


# ---- writing -----------------------------------------------------------------------


class CreateCmd(Command):
    name, synopsis = "create", "[-s] [-e] [-c] [-t ttl] path [data] [acl]"
    spec = OptionSpec((Opt("e", False, "ephemeral"), Opt("s", False, "sequential"),
                       Opt("c", False, "container"), Opt("t", True, "ttl")))
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        e, s, c, t = p.has("e"), p.has("s"), p.has("c"), p.has("t")
        if c and (e or s):
            raise CliError("-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.")
        ttl = 0
        if t:
            try:
                ttl = java_int(p.value("t") or "", 64)
            except CliError:
                raise CliError("-t argument must be a long value") from None
        if t and e:
            raise CliError("TTLs cannot be used with Ephemeral znodes")
        if t and c:
            raise CliError("TTLs cannot be used with Container znodes")
        if e:
            mode = CreateMode.EPHEMERAL_SEQUENTIAL if s else CreateMode.EPHEMERAL
        elif s:
            mode = CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL if t else CreateMode.PERSISTENT_SEQUENTIAL
        elif c:
            mode = CreateMode.CONTAINER
        else:
            mode = CreateMode.PERSISTENT_WITH_TTL if t else CreateMode.PERSISTENT
        if t and not 0 < ttl <= TTL_MAX_MS:
            raise CliError(f"ttl must be positive and cannot be larger than: {TTL_MAX_MS}")
        path = p.args[1]
        data = utf8(p.args[2]) if len(p.args) > 2 else None
        acl = parse_acl(p.args[3], conn.console.err) if len(p.args) > 3 else list(OPEN_ACL_UNSAFE)
        check_path(path, mode.is_sequential)
        try:
            if not acl:
                raise InvalidACLError(None)  # ZooKeeper.validateACL, before sending
            created = await call(conn, path, conn.create, path, data, acl, mode, ttl)
        except EphemeralOnLocalSessionError:
            conn.console.err("Unable to create ephemeral node on a local session")
            raise
        except InvalidACLError as err:
            conn.console.err(keeper_message(err.code, err.path))
            raise
        # ZooKeeper's client cuts the chroot off the path it got back, leaving "" for the chroot itself.
        conn.console.err(f"Created {'' if created == '/' and conn.client.chroot else created}")


class SetCmd(Command):
    name, synopsis = "set", "[-s] [-v version] path data"
    spec = OptionSpec((Opt("s", False, "stats"), Opt("v", True, "version")))
    min_args = 3

    async def run(self, conn: Connection, p: Parsed) -> None:
        path, data = p.args[1], utf8(p.args[2])
        version = java_int(p.value("v") or "") if p.has("v") else -1
        check_path(path)
        stat = await call(conn, path, conn.client.set, path, data, version)
        if p.has("s"):
            print_stat(conn, stat)


class Delete(Command):
    name, synopsis = "delete", "[-v version] path"
    spec = OptionSpec((Opt("v", True, "version"),))
    min_args = 2
    deprecated = "'delete path [version]' has been deprecated. Please use 'delete [-v version] path' instead."
    third_word_is_watch = False  # zkCli.sh warns, then ignores the version word

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        version = java_int(p.value("v") or "") if p.has("v") else -1
        check_path(path)
        await call(conn, path, conn.client.delete, path, version)


class DeleteAll(Command):
    name, synopsis = "deleteall", "path [-b batch size]"
    spec = OptionSpec((Opt("b", True, "batch size"),))
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        try:
            batch = java_int(p.value("b") or "") if p.has("b") else 1000
        except CliError:
            raise CliError("-b argument must be an int value") from None
        path = p.args[1]
        check_path(path)
        if not await delete_tree(conn, path, batch):
            conn.console.err("Failed to delete some node(s) in the subtree!")


async def delete_tree(conn: Connection, root: str, batch: int) -> bool:
    """ZKUtil.deleteRecursive: list the subtree breadth first, delete it leaves first in
    multi batches of `batch`; False if a batch failed (the rest is then left alone)."""
    tree, queue = [root], deque([root])
    while queue:
        node = queue.popleft()
        for child in await call(conn, node, conn.client.get_children, node):
            tree.append(join(node, child))
            queue.append(tree[-1])
    ops: list[str] = []
    for i in range(len(tree) - 1, -1, -1):
        ops.append(tree[i])
        if len(ops) == batch or i == 0:
            t = conn.client.transaction()
            for node in ops:
                t.delete(node)
            results = await call(conn, root, t.commit)
            if any(isinstance(r, Exception) for r in results):
                return False
            ops = []
    return True


class SetAcl(Command):
    name, synopsis = "setAcl", "[-s] [-v version] [-R] path acl"
    spec = OptionSpec((Opt("s", False, "stats"), Opt("v", True, "version"), Opt("R", False, "recursive")))
    min_args = 3

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        acl = parse_acl(p.args[2], conn.console.err)
        version = java_int(p.value("v") or "") if p.has("v") else -1
        if p.has("R"):
            async def set_one(node: str) -> None:
                try:
                    await self._set(conn, node, acl, version)
                except ZookeeperError as e:
                    conn.console.out(keeper_message(e.code, e.path), end="")  # no newline, as zkCli.sh

            await visit_subtree(conn, path, False, set_one)
            return
        check_path(path)
        stat = await self._set(conn, path, acl, version)
        if p.has("s"):
            print_stat(conn, stat)

    async def _set(self, conn: Connection, path: str, acl: list[ACL], version: int) -> Any:
        if not acl:
            raise InvalidACLError(None)  # ZooKeeper.validateACL, before sending
        return await call(conn, path, conn.client.set_acls, path, acl, version)


# ---- quotas ------------------------------------------------------------------------

_QUOTA_OPTS = ("n", "b", "N", "B")
_QUOTA_KEYS = {"n": "count", "b": "bytes", "N": "countHardLimit", "B": "byteHardLimit"}


class SetQuota(Command):
    name, synopsis = "setquota", "-n|-b|-N|-B val path"
    spec = OptionSpec((Opt("n", True, "num soft quota"), Opt("b", True, "bytes soft quota"),
                       Opt("N", True, "num hard quota"), Opt("B", True, "bytes hard quota")),
                      (Group(_QUOTA_OPTS, required=True),))
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        if path.startswith(QUOTA_ROOT):
            conn.console.err(f"cannot set a quota under the path: {QUOTA_ROOT}")
            return
        quota = StatsTrack()
        quota.values = {"count": -1, "bytes": -1, "countHardLimit": -1, "byteHardLimit": -1}
        try:
            for opt in _QUOTA_OPTS:
                if not p.has(opt):
                    continue
                value = java_int(p.value(opt) or "", 32 if opt in "nN" else 64)
                if opt in "nN" and value <= 0:
                    conn.console.err("the num quota must be greater than zero")
                    return
                if opt in "bB" and value < 0:
                    conn.console.err("the bytes quota must be greater than or equal to zero")
                    return
                quota.values[_QUOTA_KEYS[opt]] = value
        except CliError:
            conn.console.err("NumberFormatException happens when parsing the option value")
            return
        await create_quota(conn, path, quota)


async def create_quota(conn: Connection, path: str, quota: StatsTrack) -> None:
    """SetQuotaCommand.createQuota: the limit and stat nodes under /zookeeper/quota."""
    check_path(path)
    client = conn.client
    if await call(conn, path, client.exists, path) is None:
        raise CliError(f"{path} does not exist.")
    await _check_no_child_quota(conn, path)
    await _check_no_parent_quota(conn, path)
    if await call(conn, QUOTA_ROOT, client.exists, QUOTA_ROOT) is None:
        try:
            await _create(conn, "/zookeeper", None)
            await _create(conn, QUOTA_ROOT, None)
        except NodeExistsError:
            pass
    node = QUOTA_ROOT
    for part in path.split("/")[1:]:
        node = f"{node}/{part}"
        if await call(conn, node, client.exists, node) is None:
            try:
                await _create(conn, node, None)
            except NodeExistsError:
                pass
    limits, stats = f"{node}/{LIMIT_NODE}", f"{node}/{STAT_NODE}"
    if await call(conn, limits, client.exists, limits) is None:
        await _create(conn, limits, str(quota).encode())
        await _create(conn, stats, b"count=0,bytes=0")
        _warn_below_usage(conn, await _read_track(conn, limits), await _read_track(conn, stats))
    else:
        current = await _read_track(conn, limits)
        for key, value in quota.values.items():
            if value > -1:
                current.values[key] = value
        _warn_below_usage(conn, current, await _read_track(conn, stats))
        await call(conn, limits, client.set, limits, str(current).encode())


async def _create(conn: Connection, path: str, data: bytes | None) -> None:
    await call(conn, path, conn.create, path, data, list(OPEN_ACL_UNSAFE), CreateMode.PERSISTENT, 0)


async def _read_track(conn: Connection, path: str) -> StatsTrack:
    data, _ = await call(conn, path, conn.get_data, path, False)
    return StatsTrack(data_text(data))


def _warn_below_usage(conn: Connection, quota: StatsTrack, usage: StatsTrack) -> None:
    count, nbytes = usage.get("count"), usage.get("bytes")
    if (-1 < quota.get("count") < count) or (-1 < quota.get("countHardLimit") < count):
        conn.console.out(f"[Warning]: the count quota you create is less than the existing count:{count}")
    if (-1 < quota.get("bytes") < nbytes) or (-1 < quota.get("byteHardLimit") < nbytes):
        conn.console.out(f"[Warning]: the bytes quota you create is less than the existing bytes:{nbytes}")


async def _check_no_child_quota(conn: Connection, path: str) -> None:
    own = QUOTA_ROOT + path

    async def check(node: str) -> None:
        try:
            children = await call(conn, node, conn.client.get_children, node)
        except NoNodeError:
            return
        if node != own and LIMIT_NODE in children:
            raise CliError(f"{path} has a child {node[len(QUOTA_ROOT):]} which has a quota")

    try:
        await visit_subtree(conn, own, False, check)
    except NoNodeError:
        pass


async def _check_no_parent_quota(conn: Connection, path: str) -> None:
    parts = path.split("/")
    node = QUOTA_ROOT
    for part in parts[1:-1]:
        node = f"{node}/{part}"
        try:
            children = await call(conn, node, conn.client.get_children, node)
        except NoNodeError:
            return
        if not children:
            return
        if node != QUOTA_ROOT + path and LIMIT_NODE in children:
            raise CliError(f"{path} has a parent {node[len(QUOTA_ROOT):]} which has a quota")


class ListQuota(Command):
    name, synopsis = "listquota", "path"
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        conn.console.err(f"absolute path is {limit_path(path)}")
        try:
            limit = await _read_track(conn, limit_path(path))
            usage = await _read_track(conn, stat_path(path))
        except NoNodeError:
            conn.console.err(f"quota for {path} does not exist.")
            return
        conn.console.out(f"Output quota for {path} {limit}")
        conn.console.out(f"Output stat for {path} {usage}")


class DelQuota(Command):
    name, synopsis = "delquota", "[-n|-b|-N|-B] path"
    spec = OptionSpec((Opt("n", False, "num soft quota"), Opt("b", False, "bytes soft quota"),
                       Opt("N", False, "num hard quota"), Opt("B", False, "bytes hard quota")),
                      (Group(_QUOTA_OPTS),))
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        which = [o for o in _QUOTA_OPTS if p.has(o)]
        try:
            await self._delete(conn, path, which)
        except NoNodeError:
            conn.console.err(f"quota for {path} does not exist.")

    async def _delete(self, conn: Connection, path: str, which: list[str]) -> None:
        client = conn.client
        parent, limits = QUOTA_ROOT + path, limit_path(path)
        if await call(conn, limits, client.exists, limits) is None:
            conn.console.out(f"Quota does not exist for {path}")
            return
        track = await _read_track(conn, limits)
        if not which:
            for child in await call(conn, parent, client.get_children, parent):
                await call(conn, f"{parent}/{child}", client.delete, f"{parent}/{child}")
            await _trim_quota_tree(conn, parent)
            return
        for opt in which:
            track.values[_QUOTA_KEYS[opt]] = -1
        await call(conn, limits, client.set, limits, str(track).encode())


async def _trim_quota_tree(conn: Connection, node: str) -> None:
    while node != QUOTA_ROOT:
        if await call(conn, node, conn.client.get_children, node):
            return
        await call(conn, node, conn.client.delete, node)
        node = node[:node.rfind("/")]


# ---- session, watches, cluster -----------------------------------------------------


class AddAuth(Command):
    name, synopsis = "addauth", "scheme auth"
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        credential = utf8(p.args[2]) if len(p.args) >= 3 else None  # sent as a null buffer
        await call(conn, None, conn.add_auth, p.args[1], credential)


class WhoAmI(Command):
    name, synopsis = "whoami", ""

    def parse(self, conn: Connection, words: Sequence[str]) -> Parsed:
        return Parsed(list(words))  # zkCli.sh takes any words here

    async def run(self, conn: Connection, p: Parsed) -> None:
        infos = await call(conn, None, conn.client.whoami)
        conn.console.out("Auth scheme: User")
        for info in infos:
            conn.console.out(f"{info.authScheme}: {info.user}")


class Close(Command):
    name, synopsis = "close", ""

    def parse(self, conn: Connection, words: Sequence[str]) -> Parsed:
        return Parsed(list(words))

    async def run(self, conn: Connection, p: Parsed) -> None:
        await conn.close()


class Version(Command):
    name, synopsis = "version", ""

    def parse(self, conn: Connection, words: Sequence[str]) -> Parsed:
        p = self._options(words)
        if len(p.args) > 1:
            raise CliError(self.usage)
        return p

    async def run(self, conn: Connection, p: Parsed) -> None:
        conn.console.out(f"ZooKeeper CLI version: {ZOOKEEPER_COMPAT_VERSION}-zkeeper-{__version__}")


class AddWatch(Command):
    name = "addWatch"
    synopsis = ("[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] "
                "- default is PERSISTENT_RECURSIVE")
    spec = OptionSpec((Opt("m", True, ""),))

    def parse(self, conn: Connection, words: Sequence[str]) -> Parsed:
        p = self._options(words)
        if len(p.args) != 2:
            raise CliError(self.usage)
        if p.has("m") and (p.value("m") or "").upper() not in AddWatchMode.__members__:
            raise CliError(self.usage)
        return p

    async def run(self, conn: Connection, p: Parsed) -> None:
        mode = AddWatchMode[(p.value("m") or "").upper()] if p.has("m") else AddWatchMode.PERSISTENT_RECURSIVE
        path = p.args[1]
        check_path(path)
        await call(conn, path, conn.client.add_watch, path, conn, mode)


class RemoveWatches(Command):
    name, synopsis = "removewatches", "path [-c|-d|-a] [-l]"
    spec = OptionSpec((Opt("c", False, "child watcher type"), Opt("d", False, "data watcher type"),
                       Opt("a", False, "any watcher type"),
                       Opt("l", False, "remove locally when there is no server connection")))
    min_args = 2

    async def run(self, conn: Connection, p: Parsed) -> None:
        path = p.args[1]
        wtype = WatcherType.ANY
        if p.has("c"):
            wtype = WatcherType.CHILDREN
        elif p.has("d"):
            wtype = WatcherType.DATA
        check_path(path)
        # -l (remove locally when the server cannot be reached) is accepted; the
        # Client API removes watches only together with the server.
        held = conn.has_watch(path, _WATCHES_SEEN_BY[wtype])
        removable = conn.has_watch(path, _WATCHES_REMOVED_BY[wtype])
        conn.begin_watch_removal()
        await call(conn, path, conn.client.remove_all_watches, path, wtype)
        if not held or not removable:
            # The server was asked all the same; ZooKeeper's client then finds nothing
            # of this type to remove here (a persistent watch counts as held for -c and
            # -d, but only -a removes it).
            raise NoWatcherError(path)


_PERSISTENT = (WatchKind.PERSISTENT, WatchKind.PERSISTENT_RECURSIVE)
_WATCHES_SEEN_BY = {
    WatcherType.CHILDREN: (WatchKind.CHILD, *_PERSISTENT),
    WatcherType.DATA: (WatchKind.DATA, WatchKind.EXIST, *_PERSISTENT),
    WatcherType.ANY: tuple(WatchKind),
}
_WATCHES_REMOVED_BY = {
    WatcherType.CHILDREN: (WatchKind.CHILD,),
    WatcherType.DATA: (WatchKind.DATA, WatchKind.EXIST),
    WatcherType.ANY: tuple(WatchKind),
}


class Reconfig(Command):
    name = "reconfig"
    synopsis = ("[-s] [-v version] [[-file path] | [-members serverID=host:port1:port2;port3[,...]*]] | "
                "[-add serverId=host:port1:port2;port3[,...]]* [-remove serverId[,...]*]")
    spec = OptionSpec((Opt("s", False, "stats"), Opt("v", True, "required current config version"),
                       Opt("file", True, "path of config file to parse for membership"),
                       Opt("members", True, "comma-separated list of config strings for non-incremental reconfig"),
                       Opt("add", True, "comma-separated list of config strings for new servers"),
                       Opt("remove", True, "comma-separated list of server IDs to remove")))

    def parse(self, conn: Connection, words: Sequence[str]) -> Parsed:
        p = self._options(words)
        whole = p.has("file") or p.has("members")
        if not whole and not p.has("add") and not p.has("remove"):
            raise CliError(self.usage)
        if p.has("v"):
            try:
                int(p.value("v") or "", 16)
            except ValueError:
                raise CliError("-v must be followed by a long (configuration version)") from None
        if whole and (p.has("add") or p.has("remove")):
            raise CliError("Can't use -file or -members together with -add or -remove (mixing incremental"
                           " and non-incremental modes is not allowed)")
        if p.has("file") and p.has("members"):
            raise CliError("Can't use -file and -members together (conflicting non-incremental modes)")
        if p.has("file"):
            name = p.value("file") or ""
            try:
                with open(name, encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f if ln.strip().startswith("server.")]
            except OSError as e:  # Java's FileNotFoundException text
                raise CliError(f"Error processing {name}{name} ({e.strerror})") from None
            p.values["members"] = [",".join(lines)]
        return p

    async def run(self, conn: Connection, p: Parsed) -> None:
        def lower(opt: str) -> str | None:
            return (p.value(opt) or "").lower() if p.has(opt) else None

        version = int(p.value("v") or "", 16) if p.has("v") else -1
        data, stat = await call(conn, None, conn.client.reconfig, lower("add"), lower("remove"),
                                lower("members") if not p.has("file") else p.value("members"), version)
        conn.console.out("Committed new configuration:\n" + data.decode("utf-8", "replace"))
        if p.has("s"):
            print_stat(conn, stat)


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Close(), CreateCmd(), Delete(), DeleteAll(), SetCmd(), Get(), Ls(), GetAcl(), SetAcl(), StatCmd(),
    Sync(), SetQuota(), ListQuota(), DelQuota(), AddAuth(), Reconfig(), Config(), RemoveWatches(),
    GetEphemerals(), GetAllChildrenNumber(), Version(), AddWatch(), WhoAmI(),
)}

# The shell's own commands (zkcli.py runs them), with their usage for `usage()`.
SHELL_COMMANDS = {"connect": "host:port", "history": "", "redo": "cmdno", "printwatches": "on|off", "quit": ""}


def synopses() -> list[tuple[str, str]]:
    return [(c.name, c.synopsis) for c in COMMANDS.values()] + list(SHELL_COMMANDS.items())

