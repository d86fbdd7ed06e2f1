"""Every operation of the server through `Client`, with kazoo's result shapes and one
exception class per error code. Runs against Apache ZooKeeper and zkeeper alike."""

from __future__ import annotations

import pytest

from zkeeper.client import (
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    BadArgumentsError,
    BadVersionError,
    Client,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    Perms,
    ReconfigDisabledError,
    RolledBackError,
    RuntimeInconsistency,
    UnimplementedError,
    ZnodeStat,
    make_digest_acl,
)
from zkeeper.errors import KeeperError


async def test_create_get_set_delete(hosts: str) -> None:
    async with Client(hosts) as c:
        assert await c.create("/a", b"one") == "/a"
        data, stat = await c.get("/a")
        assert data == b"one"
        assert isinstance(stat, ZnodeStat)
        assert (stat.version, stat.data_length, stat.children_count, stat.owner_session_id) == (0, 3, 0, None)
        assert stat.created == stat.ctime / 1000
        stat2 = await c.set("/a", b"two")
        assert stat2.version == 1 and stat2.mzxid > stat.mzxid
        assert (await c.get("/a"))[0] == b"two"
        assert await c.delete("/a") is True
        assert await c.exists("/a") is None


async def test_create_returns_path_and_stat_with_include_data(hosts: str) -> None:
    async with Client(hosts) as c:
        path, stat = await c.create("/b", b"xyz", include_data=True)
        assert path == "/b"
        assert stat == await c.exists("/b")


async def test_sequential_and_ephemeral(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/q")
        first = await c.create("/q/item-", sequence=True)
        second = await c.create("/q/item-", sequence=True, ephemeral=True)
        assert first == "/q/item-0000000000"
        assert second == "/q/item-0000000001"
        stat = await c.exists(second)
        assert stat is not None and stat.owner_session_id == c.session_id
        assert await c.get_ephemerals("/q") == [second]
        assert await c.get_ephemerals("/nothing-like-this") == []
        with pytest.raises(NoChildrenForEphemeralsError):
            await c.create(second + "/child")


async def test_ephemerals_go_with_the_session(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/e", ephemeral=True)
    async with Client(hosts) as c:
        assert await c.exists("/e") is None


async def test_makepath_and_ensure_path(hosts: str) -> None:
    async with Client(hosts) as c:
        assert await c.create("/x/y/z", b"deep", makepath=True) == "/x/y/z"
        assert (await c.get("/x/y/z"))[0] == b"deep"
        with pytest.raises(NoNodeError):
            await c.create("/no/parent")
        assert await c.ensure_path("/m/n/o") is True
        assert await c.ensure_path("/m/n/o") is True
        assert await c.get_children("/m/n") == ["o"]


async def test_container_node(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/box", container=True)
        await c.create("/box/item")
        assert await c.get_children("/box") == ["item"]


async def test_ttl_node(hosts: str) -> None:
    async with Client(hosts) as c:
        path, stat = await c.create("/ttl-", ttl=60_000, sequence=True, include_data=True)
        assert path.startswith("/ttl-")
        # The server keeps the TTL in ephemeralOwner but shows clients 0 (not ephemeral).
        assert stat == await c.exists(path)
        assert stat.owner_session_id is None


async def test_bad_arguments_are_refused_before_sending(hosts: str) -> None:
    async with Client(hosts) as c:
        with pytest.raises(ValueError):
            await c.create("relative")
        with pytest.raises(ValueError):
            await c.get("/trailing/")
        with pytest.raises(TypeError):
            await c.create("/s", "not bytes")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await c.create("/c", container=True, ephemeral=True)
        with pytest.raises(ValueError):
            await c.create("/t", ttl=1000, ephemeral=True)


async def test_error_codes_map_to_exception_classes(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/v", b"1")
        await c.create("/v/child")
        with pytest.raises(NodeExistsError) as e:
            await c.create("/v")
        assert e.value.path == "/v" and isinstance(e.value, KeeperError)
        with pytest.raises(BadVersionError):
            await c.set("/v", b"2", version=5)
        with pytest.raises(BadVersionError):
            await c.delete("/v/child", version=3)
        with pytest.raises(NotEmptyError):
            await c.delete("/v")
        with pytest.raises(NoNodeError):
            await c.get("/nope")
        with pytest.raises(NoNodeError):
            await c.set("/nope", b"")
        with pytest.raises(NoNodeError):
            await c.get_children("/nope")


async def test_children_with_stat_and_recursive_delete(hosts: str) -> None:
    async with Client(hosts) as c:
        for name in ("a", "b", "c"):
            await c.create(f"/p/{name}/leaf", makepath=True)
        children, stat = await c.get_children("/p", include_data=True)
        assert sorted(children) == ["a", "b", "c"]
        assert stat.numChildren == 3 and stat.cversion == 3
        assert await c.get_all_children_number("/p") == 6
        await c.delete("/p", recursive=True)
        assert await c.exists("/p") is None


async def test_acls(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/open")
        acls, stat = await c.get_acls("/open")
        assert acls == OPEN_ACL_UNSAFE and stat.aversion == 0
        with pytest.raises(BadVersionError):
            await c.set_acls("/open", READ_ACL_UNSAFE, version=5)
        stat = await c.set_acls("/open", READ_ACL_UNSAFE, version=0)
        assert stat.aversion == 1
        assert (await c.get_acls("/open"))[0] == READ_ACL_UNSAFE
        with pytest.raises(NoAuthError):
            await c.set("/open", b"x")


async def test_digest_auth_and_creator_acl(hosts: str) -> None:
    async with Client(hosts) as owner, Client(hosts) as stranger:
        await owner.add_auth("digest", "alice:secret")
        await owner.create("/mine", b"private", acl=CREATOR_ALL_ACL)
        acls, _ = await owner.get_acls("/mine")
        assert acls == [make_digest_acl("alice", "secret", all=True)]
        assert (await owner.get("/mine"))[0] == b"private"
        with pytest.raises(NoAuthError):
            await stranger.get("/mine")
        await stranger.add_auth("digest", "alice:secret")
        assert (await stranger.get("/mine"))[0] == b"private"


async def test_auth_data_at_start_and_whoami(hosts: str) -> None:
    async with Client(hosts, auth_data=[("digest", "bob:pw")]) as c:
        who = {(i.authScheme, i.user) for i in await c.whoami()}
        assert ("ip", "127.0.0.1") in who
        assert ("digest", "bob") in who


async def test_sync(hosts: str) -> None:
    async with Client(hosts) as c:
        assert await c.sync("/") == "/"


async def test_reconfig_is_refused_on_a_standalone_server(hosts: str) -> None:
    async with Client(hosts) as c:
        with pytest.raises((ReconfigDisabledError, UnimplementedError)):
            await c.reconfig(None, None, "server.1=127.0.0.1:2888:3888")


async def test_transaction_commits_all(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/t", b"0")
        t = c.transaction()
        t.create("/t/new", b"n")
        t.create("/t/seq-", sequence=True)
        t.check("/t", 0)
        t.set_data("/t", b"1")
        t.delete("/t/new")
        results = await t.commit()
        assert results[0] == "/t/new"
        assert results[1] == "/t/seq-0000000001"
        assert results[2] is True
        assert isinstance(results[3], ZnodeStat) and results[3].version == 1
        assert results[4] is True
        assert sorted(await c.get_children("/t")) == ["seq-0000000001"]


async def test_transaction_failure_reports_each_op_and_changes_nothing(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/t", b"0")
        async with c.transaction() as t:
            t.create("/t/a")
            t.set_data("/t", b"x", version=7)
            t.delete("/t/missing")
        results = t.results
        assert isinstance(results[0], RolledBackError)
        assert isinstance(results[1], BadVersionError)
        assert isinstance(results[2], RuntimeInconsistency)
        assert await c.exists("/t/a") is None
        assert (await c.get("/t"))[0] == b"0"


async def test_multi_read(hosts: str) -> None:
    async with Client(hosts) as c:
        await c.create("/r/x", b"data", makepath=True)
        r = c.multi_read()
        r.get("/r/x")
        r.get_children("/r")
        r.get("/r/missing")
        got = await r.commit()
        assert got[0][0] == b"data" and isinstance(got[0][1], ZnodeStat)
        assert got[1] == ["x"]
        assert isinstance(got[2], NoNodeError)


async def test_chroot_is_invisible(server, root: str) -> None:  # noqa: ANN001
    async with Client(server.hosts + root) as c:
        assert await c.create("/n", b"v") == "/n"
        seq = await c.create("/s-", sequence=True, ephemeral=True)
        assert seq == "/s-0000000001"
        assert await c.get_ephemerals() == [seq]
        assert sorted(await c.get_children("/")) == ["n", "s-0000000001"]
        assert await c.sync("/n") == "/n"
    async with Client(server.hosts) as plain:
        assert (await plain.get(root + "/n"))[0] == b"v"
