"""What operators read off a running ensemble: `srvr` and `mntr` per member, on both servers."""

from __future__ import annotations

from tests.ensemble.conftest import EnsembleFactory
from tests.server.durability_helpers import wait_until
from tests.support.servers import four_letter


def _mntr(port: int) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in four_letter(port, "mntr").splitlines() if "\t" in line)


def test_srvr_and_mntr_report_each_members_role(ensembles: EnsembleFactory) -> None:
    ens = ensembles(3, observers=1)
    leader = ens.leader()
    for sid, member in ens.members.items():
        srvr = four_letter(member.client_port, "srvr")
        mntr = _mntr(member.client_port)
        expected = "leader" if sid == leader else "observer" if member.observer else "follower"
        assert f"Mode: {expected}\n" in srvr
        assert mntr["zk_server_state"] == expected
        # Only the leader counts its learners and shows its proposal sizes.
        assert ("Proposal sizes last/min/max: " in srvr) == (sid == leader)
        assert ("zk_synced_followers" in mntr) == (sid == leader)
    mntr = _mntr(ens.members[leader].client_port)
    assert (mntr["zk_synced_followers"], mntr["zk_synced_observers"]) == ("2", "1")


def test_a_member_without_a_quorum_stops_serving(ensembles: EnsembleFactory) -> None:
    ens = ensembles(3)
    leader = ens.leader()
    survivor = next(sid for sid in ens.members if sid != leader)
    for sid in ens.members:
        if sid != survivor:
            ens.kill(sid)
    port = ens.members[survivor].client_port
    wait_until("a lone member to stop serving", lambda: "not currently serving" in four_letter(port, "srvr"),
               timeout=30)
