"""All eighteen four-letter words, compared with Apache ZooKeeper's output on the same activity.

Numbers, dates, addresses and paths of the machine are masked; what is left (line
structure, keys, labels, order) must match. `mntr` and `envi` list platform-specific
keys (JVM vs Python), so for them ours must be ZooKeeper's keys or a subset of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.support.servers import RunningServer, four_letter, reference_available, start_reference, start_zkeeper

pytestmark = pytest.mark.skipif(not reference_available(), reason="Apache ZooKeeper (Debian package) is the oracle")

COMPARED = ["ruok", "srvr", "stat", "isro", "conf", "cons", "wchs", "wchc", "wchp", "dump", "dirs",
            "gtmk", "stmk", "hash", "crst", "srst"]


def mask(text: str) -> str:
    text = re.sub(r"Zookeeper version: .*", "Zookeeper version: V", text)
    text = re.sub(r"zookeeper\.version=.*", "zookeeper.version=V", text)
    text = re.sub(r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d \w+ \d{4}", "DATE", text)
    text = re.sub(r"/127\.0\.0\.1:\d+", "/ADDR", text)
    text = re.sub(r"(dataDir|dataLogDir)=.*", r"\1=PATH", text)
    text = re.sub(r"0x[0-9a-f]+", "0xN", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text


def normalized(word: str, text: str) -> str:
    lines = mask(text).split("\n")
    if word == "dump":
        # How sessions and connections fall into expiry buckets depends on timing in
        # ZooKeeper itself (one "expire at" header per bucket), so headers are not compared.
        lines = [line for line in lines if not re.fullmatch(r"N expire at DATE:", line)]
    if word in ("stat", "cons", "dump"):
        # Connections are listed in hash order; compare them as a sorted block.
        lines = sorted(lines)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    started: list[RunningServer] = []
    clients = []
    try:
        for start in (start_reference, start_zkeeper):
            srv = start(tmp_path_factory.mktemp(start.__name__))
            started.append(srv)
            zk = KazooClient(srv.hosts)
            zk.start()
            zk.create("/w", b"x")
            zk.create("/e", ephemeral=True)
            zk.get("/w", watch=lambda e: None)
            clients.append(zk)
        yield started
    finally:
        for zk in clients:
            zk.stop()
            zk.close()
        for srv in started:
            srv.stop()


@pytest.mark.parametrize("word", COMPARED)
def test_output_matches_zookeeper(servers: list[RunningServer], word: str) -> None:
    reference, ours = servers
    expected = normalized(word, four_letter(reference.port, word))
    assert normalized(word, four_letter(ours.port, word)) == expected


def test_mntr_keys_are_zookeepers_and_cover_the_essentials(servers: list[RunningServer]) -> None:
    reference, ours = servers
    def keys(text: str) -> list[str]:
        return [line.split("\t")[0] for line in text.splitlines() if line]
    ref_keys = set(keys(four_letter(reference.port, "mntr")))
    our = four_letter(ours.port, "mntr")
    assert set(keys(our)) <= ref_keys | {"zk_last_proposal_size"}
    values = dict(line.split("\t", 1) for line in our.splitlines() if line)
    assert values["zk_server_state"] == "standalone"
    assert values["zk_znode_count"] == "7" and values["zk_ephemerals_count"] == "1"
    assert values["zk_watch_count"] == "1"


def test_envi_has_zookeepers_shape(servers: list[RunningServer]) -> None:
    _, ours = servers
    lines = four_letter(ours.port, "envi").splitlines()
    assert lines[0] == "Environment:"
    assert lines[1].startswith("zookeeper.version=")
    assert all("=" in line for line in lines[1:])
