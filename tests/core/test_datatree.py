"""The data tree and prep together: Stat bookkeeping, errors and their precedence."""

from __future__ import annotations

from zkeeper.errors import Code
from zkeeper.jute import (
    ACL, CheckVersionRequest, CreateRequest, CreateTTLRequest, DeleteRequest, ExistsRequest,
    GetChildrenRequest, GetDataRequest, Id, SetACLRequest, SetDataRequest,
)
from zkeeper.jute import GetChildrenResponse
from zkeeper.jute.multi import MultiRequest
from zkeeper.jute.schema import decode, encode
from zkeeper.tree.acl import generate_digest
from zkeeper.types import CONTAINER_EPHEMERAL_OWNER, CreateMode, OpCode, Perms, ttl_ephemeral_owner

from .helpers import Core, open_acl


def create(core: Core, sid: int, path: str, data: bytes = b"", mode: CreateMode = CreateMode.PERSISTENT,
           acl: list[ACL] | None = None, auth: list[Id] | None = None):
    return core.run(sid, OpCode.CREATE2, CreateRequest(path, data, acl or open_acl(), mode), auth)


def test_fresh_tree_has_the_system_nodes_with_zookeepers_stats():
    core = Core()
    root = core.tree.get("/").stat()
    assert (root.cversion, root.numChildren) == (-1, 1)
    zk = core.tree.get("/zookeeper")
    assert zk.children_in_java_order() == ["config", "quota"]
    assert zk.stat().cversion == -2
    config = core.tree.get("/zookeeper/config")
    assert config.stat().aversion == -1 and config.acl[0].perms == Perms.READ


def test_create_sets_stat_and_parent_cversion_and_pzxid():
    core = Core()
    sid = core.session()
    r = create(core, sid, "/a", b"xyz")
    assert r.header.err == 0
    st = r.body.stat
    assert st.czxid == st.mzxid == st.pzxid == r.header.zxid == 2
    assert (st.version, st.cversion, st.dataLength, st.ephemeralOwner) == (0, 0, 3, 0)
    create(core, sid, "/a/b")
    a = core.tree.get("/a").stat()
    assert (a.cversion, a.numChildren, a.pzxid) == (1, 1, 3)
    core.run(sid, OpCode.DELETE, DeleteRequest("/a/b", -1))
    a = core.tree.get("/a").stat()
    # Clients see 2*creates - remaining children: the delete counts as a change.
    assert (a.cversion, a.numChildren, a.pzxid) == (2, 0, 4)


def test_sequential_names_come_from_the_parents_create_count():
    core = Core()
    sid = core.session()
    create(core, sid, "/q")
    names = [create(core, sid, "/q/n-", mode=CreateMode.PERSISTENT_SEQUENTIAL).body.path for _ in range(2)]
    assert names == ["/q/n-0000000000", "/q/n-0000000001"]
    core.run(sid, OpCode.DELETE, DeleteRequest(names[0], -1))
    assert create(core, sid, "/q/n-", mode=CreateMode.EPHEMERAL_SEQUENTIAL).body.path == "/q/n-0000000002"


def test_failed_writes_consume_a_zxid_and_change_nothing():
    core = Core()
    sid = core.session()
    create(core, sid, "/a")
    r = create(core, sid, "/a")
    assert (r.header.err, r.header.zxid) == (Code.NODEEXISTS, 3)
    assert core.tree.get("/a").stat().mzxid == 2


def test_error_precedence_follows_zookeeper():
    core = Core()
    sid = core.session()
    # Missing parent beats a malformed final path; bad ACL beats a missing parent.
    assert create(core, sid, "/missing/x/").header.err == Code.NONODE
    assert core.run(sid, OpCode.CREATE, CreateRequest("/missing/x", b"", [], 0)).header.err == Code.INVALIDACL
    assert create(core, sid, "noslash").header.err == Code.BADARGUMENTS
    create(core, sid, "/e", mode=CreateMode.EPHEMERAL)
    assert create(core, sid, "/e/c").header.err == Code.NOCHILDRENFOREPHEMERALS
    create(core, sid, "/p")
    create(core, sid, "/p/c")
    assert core.run(sid, OpCode.DELETE, DeleteRequest("/p", 5)).header.err == Code.BADVERSION
    assert core.run(sid, OpCode.DELETE, DeleteRequest("/p", -1)).header.err == Code.NOTEMPTY
    assert core.run(sid, OpCode.DELETE, DeleteRequest("/zookeeper", -1)).header.err == Code.BADARGUMENTS


def test_versions_compare_and_set():
    core = Core()
    sid = core.session()
    create(core, sid, "/v")
    assert core.run(sid, OpCode.SET_DATA, SetDataRequest("/v", b"1", 0)).body.stat.version == 1
    assert core.run(sid, OpCode.SET_DATA, SetDataRequest("/v", b"2", 0)).header.err == Code.BADVERSION
    assert core.run(sid, OpCode.SET_DATA, SetDataRequest("/v", b"2", -1)).body.stat.version == 2
    r = core.run(sid, OpCode.SET_ACL, SetACLRequest("/v", open_acl(), 0))
    assert r.body.stat.aversion == 1


def test_multi_is_all_or_nothing_with_zookeepers_per_op_results():
    core = Core()
    sid = core.session()
    ops = MultiRequest([
        (OpCode.CREATE, CreateRequest("/m1", b"", open_acl(), 0)),
        (OpCode.CHECK, CheckVersionRequest("/m1", 7)),
        (OpCode.CREATE, CreateRequest("/m2", b"", open_acl(), 0)),
    ])
    r = core.run(sid, OpCode.MULTI, ops)
    assert r.header.err == 0
    assert [(t, e) for t, e, _ in r.body.results] == [
        (OpCode.ERROR, Code.OK), (OpCode.ERROR, Code.BADVERSION), (OpCode.ERROR, Code.RUNTIMEINCONSISTENCY)]
    assert core.tree.get("/m1") is None
    ok = core.run(sid, OpCode.MULTI, MultiRequest([
        (OpCode.CREATE, CreateRequest("/m1", b"", open_acl(), 0)),
        (OpCode.CHECK, CheckVersionRequest("/m1", 0)),
        (OpCode.SET_DATA, SetDataRequest("/m1", b"d", 0)),
    ]))
    assert [t for t, _, _ in ok.body.results] == [OpCode.CREATE, OpCode.CHECK, OpCode.SET_DATA]
    assert core.tree.get("/m1").data == b"d"
    # One zxid for the whole multi.
    assert core.tree.get("/m1").czxid == core.tree.get("/m1").mzxid


def test_multi_sees_its_own_earlier_ops():
    core = Core()
    sid = core.session()
    r = core.run(sid, OpCode.MULTI, MultiRequest([
        (OpCode.CREATE, CreateRequest("/x", b"", open_acl(), 0)),
        (OpCode.CREATE, CreateRequest("/x/y", b"", open_acl(), 0)),
        (OpCode.DELETE, DeleteRequest("/x/y", 0)),
        (OpCode.DELETE, DeleteRequest("/x", 0)),
    ]))
    assert all(e == 0 for _, e, _ in r.body.results)
    assert core.tree.get("/x") is None


def test_session_close_removes_its_ephemerals_and_fires_watches():
    core = Core()
    owner = core.session()
    other = core.session()
    create(core, owner, "/eph", mode=CreateMode.EPHEMERAL)
    assert core.tree.get("/eph").ephemeral_owner == owner
    watcher = object()
    core.run(other, OpCode.EXISTS, ExistsRequest("/eph", True), origin=watcher)
    core.run(owner, OpCode.CLOSE_SESSION, None)
    assert core.tree.get("/eph") is None
    assert [(w, e.type, e.path) for w, e, _ in core.tree.take_events()] == [(watcher, 2, "/eph")]
    assert core.run(owner, OpCode.GET_DATA, GetDataRequest("/", False)).header.err == Code.SESSIONEXPIRED


def test_containers_and_ttl_nodes_carry_their_owner_markers():
    core = Core()
    sid = core.session()
    core.run(sid, OpCode.CREATE_CONTAINER, CreateRequest("/c", b"", open_acl(), CreateMode.CONTAINER))
    assert core.tree.get("/c").ephemeral_owner == CONTAINER_EPHEMERAL_OWNER
    r = core.run(sid, OpCode.CREATE_TTL, CreateTTLRequest("/t", b"", open_acl(), CreateMode.PERSISTENT_WITH_TTL, 500))
    assert core.tree.get("/t").ephemeral_owner == ttl_ephemeral_owner(500)
    # ...but clients see 0 for container and TTL nodes, as in ZooKeeper.
    assert r.body.stat.ephemeralOwner == 0 and core.tree.get("/c").stat().ephemeralOwner == 0
    assert "/c" in core.tree.containers and "/t" in core.tree.ttls
    bad = core.run(sid, OpCode.CREATE_TTL, CreateTTLRequest("/t2", b"", open_acl(), CreateMode.PERSISTENT, 500))
    assert bad.header.err == Code.BADARGUMENTS


def test_ttl_needs_extended_types():
    core = Core(extended_types=False)
    sid = core.session()
    r = core.run(sid, OpCode.CREATE_TTL, CreateTTLRequest("/t", b"", open_acl(), CreateMode.PERSISTENT_WITH_TTL, 5))
    assert r.header.err == Code.UNIMPLEMENTED


def test_digest_acl_allows_only_the_authenticated_user():
    core = Core()
    sid = core.session()
    alice = [Id("ip", "127.0.0.1"), Id("digest", generate_digest("alice:pw"))]
    r = create(core, sid, "/private", b"s", acl=[ACL(Perms.ALL, Id("auth", ""))], auth=alice)
    assert r.header.err == 0
    assert core.tree.get("/private").acl == [ACL(Perms.ALL, alice[1])]
    stranger = [Id("ip", "127.0.0.1")]
    assert core.run(sid, OpCode.GET_DATA, GetDataRequest("/private", False), stranger).header.err == Code.NOAUTH
    assert core.run(sid, OpCode.GET_DATA, GetDataRequest("/private", False), alice).body.data == b"s"
    # `auth` with no authenticated id is an invalid ACL.
    assert create(core, sid, "/x", acl=[ACL(Perms.ALL, Id("auth", ""))], auth=stranger).header.err == Code.INVALIDACL


def test_children_are_listed_in_java_hashset_order():
    core = Core()
    sid = core.session()
    create(core, sid, "/h")
    for name in ["zookeeper", "java", "b", "a", "c"]:
        create(core, sid, f"/h/{name}")
    body = core.run(sid, OpCode.GET_CHILDREN, GetChildrenRequest("/h", False)).body
    children = decode(GetChildrenResponse, encode(body)).children
    # The order Apache ZooKeeper 3.8 returned for the same creates.
    assert children == ["a", "b", "java", "c", "zookeeper"]


def test_replaying_txns_a_snapshot_already_holds_is_harmless():
    from zkeeper.jute import CreateTxn, DeleteTxn, SetDataTxn, TxnHeader

    core = Core()
    tree = core.tree
    create_hdr = TxnHeader(0, 1, 10, 5, OpCode.CREATE)
    tree.apply(create_hdr, CreateTxn("/r", b"a", open_acl(), False, 1))
    tree.apply(TxnHeader(0, 2, 11, 6, OpCode.DELETE), DeleteTxn("/r"))
    tree.apply(TxnHeader(0, 3, 12, 7, OpCode.CREATE), CreateTxn("/r", b"b", open_acl(), False, 2))
    before = tree.get("/r").stat()
    # The same txns again, as recovery from a fuzzy snapshot replays them.
    assert tree.apply(create_hdr, CreateTxn("/r", b"a", open_acl(), False, 1)).err == Code.NODEEXISTS
    assert tree.apply(TxnHeader(0, 9, 13, 8, OpCode.SET_DATA), SetDataTxn("/gone", b"", 1)).err == Code.NONODE
    assert tree.apply(TxnHeader(0, 9, 14, 8, OpCode.DELETE), DeleteTxn("/gone")).err == Code.NONODE
    assert tree.get("/r").stat() == before and tree.get("/r").data == b"b"
    assert tree.last_processed_zxid == 14
