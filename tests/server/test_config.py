"""zoo.cfg loading: defaults, the Debian sample, ensembles, and errors that name file, line and key.

Expected values come from ZooKeeper 3.8 (QuorumPeerConfig, ServerConfig and the system
properties it reads), checked against the Debian package where the source was unclear.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from zkeeper.server.config import (
    FOUR_LETTER_WORDS,
    PROMETHEUS_PROVIDER,
    ConfigError,
    ServerConfig,
    ServerSpec,
    default_config,
    load_config,
    parse_config_text,
)

DEBIAN_SAMPLE = Path("/etc/zookeeper/conf/zoo.cfg")
ENSEMBLE = """\
tickTime=2000
initLimit=10
syncLimit=5
dataDir={data}
clientPort=2181
server.1=zk1.example:2888:3888
server.2=zk2.example:2888:3888
server.3=zk3.example:2888:3888
"""


def cfg(text: str, tmp_path: Path) -> ServerConfig:
    """Parse `text`, with a dataDir line under tmp_path prepended when it has none."""
    if "dataDir" not in text:
        text = f"dataDir={tmp_path / 'data'}\n{text}"
    return parse_config_text(text, base_dir=tmp_path)


def write_myid(data: Path, text: str) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "myid").write_text(text)


def ensemble(tmp_path: Path, extra: str = "", myid: str | None = "2") -> str:
    data = tmp_path / "data"
    if myid is not None:
        write_myid(data, myid)
    return ENSEMBLE.format(data=data) + extra


# ------------------------------------------------------------------ defaults


def test_default_config_is_the_sample_standalone_server(tmp_path: Path) -> None:
    c = default_config(tmp_path)
    assert c.config_path is None
    assert (c.tick_time, c.client_port, c.client_port_address) == (2000, 2181, "0.0.0.0")
    assert c.data_dir == c.data_log_dir == str(tmp_path / "data")
    assert (c.min_session_timeout, c.max_session_timeout) == (4000, 40000)
    assert c.servers == {} and c.myid is None and not c.is_replicated
    assert c.raw == {} and c.unknown == {}


def test_a_file_gets_zookeeper_defaults_for_every_missing_key(tmp_path: Path) -> None:
    c = parse_config_text(f"dataDir={tmp_path}\n", "zoo.cfg")
    assert c.config_path == "zoo.cfg"
    assert c.tick_time == 3000  # ZooKeeperServer.DEFAULT_TICK_TIME, not the sample's 2000
    assert (c.min_session_timeout, c.max_session_timeout) == (6000, 60000)
    assert c.data_log_dir == str(tmp_path)
    assert (c.client_port, c.client_port_address) == (2181, "0.0.0.0")
    assert (c.max_client_cnxns, c.max_cnxns) == (60, 0)
    assert c.jute_max_buffer == 0xFFFFF
    assert c.four_letter_whitelist == frozenset({"srvr"})
    assert not c.extended_types_enabled and c.super_digest is None and not c.skip_acl
    assert (c.snap_count, c.snap_size_limit_kb, c.pre_alloc_size_kb) == (100_000, 4_194_304, 65_536)
    assert c.force_sync and c.fsync_warning_threshold_ms == 1000
    assert (c.autopurge_snap_retain_count, c.autopurge_purge_interval) == (3, 0)
    assert c.global_outstanding_limit == 1000
    assert c.init_limit is None and c.sync_limit is None
    assert c.peer_type == "participant" and c.standalone_enabled and not c.reconfig_enabled
    assert not c.readonly_mode_enabled and not c.local_sessions_enabled
    assert c.admin_enable_server
    assert (c.admin_server_address, c.admin_server_port, c.admin_command_url) == ("0.0.0.0", 8080, "/commands")
    assert c.metrics_provider_class is None
    assert (c.metrics_http_host, c.metrics_http_port) == ("0.0.0.0", 7000)
    assert c.secure_client_port is None


def test_session_timeouts_of_minus_one_mean_the_tick_defaults(tmp_path: Path) -> None:
    c = cfg("tickTime=1000\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n", tmp_path)
    assert (c.min_session_timeout, c.max_session_timeout) == (2000, 20000)


# ------------------------------------------------------------------ the Debian sample


def test_debian_sample_zoo_cfg(tmp_path: Path) -> None:
    if not DEBIAN_SAMPLE.exists():
        pytest.skip("Debian zookeeper package not installed")
    data = tmp_path / "zk"
    text = "".join(
        f"dataDir={data}\n" if line.startswith("dataDir=") else line
        for line in DEBIAN_SAMPLE.read_text().splitlines(keepends=True)
    )
    path = tmp_path / "zoo.cfg"
    path.write_text(text)
    c = load_config(path)
    assert c.config_path == str(path)
    assert (c.tick_time, c.init_limit, c.sync_limit, c.client_port) == (2000, 10, 5, 2181)
    assert c.data_dir == str(data)
    assert (c.min_session_timeout, c.max_session_timeout) == (4000, 40000)
    # Everything else in the sample is commented out.
    assert c.raw == {"tickTime": "2000", "initLimit": "10", "syncLimit": "5",
                     "dataDir": str(data), "clientPort": "2181"}
    assert c.unknown == {} and c.max_client_cnxns == 60 and c.metrics_provider_class is None


# ------------------------------------------------------------------ properties syntax


def test_java_properties_syntax(tmp_path: Path) -> None:
    text = (
        "# comment\n"
        "! also a comment\n"
        "   tickTime   =  1500   \n"          # blanks around key and value are trimmed
        "clientPort 2190\n"                    # whitespace separates too
        "clientPortAddress:127.0.0.1\n"        # and so does ':'
        "admin.commandURL = /cmd\\\n"          # a trailing backslash continues the line,
        "      s\n"                            # leading blanks of the next one dropped
        "admin.serverAddress=\\u0031.2.3.4\r\n"  # \\uXXXX escapes, CRLF line ends
        "globalOutstandingLimit=5\n"
        "globalOutstandingLimit=7\n"           # a repeated key keeps its last value
    )
    c = cfg(text, tmp_path)
    assert c.tick_time == 1500
    assert (c.client_port, c.client_port_address) == (2190, "127.0.0.1")
    assert c.admin_command_url == "/cmds"
    assert c.admin_server_address == "1.2.3.4"
    assert c.global_outstanding_limit == 7


def test_relative_data_dir_resolves_from_the_working_directory(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    path = conf_dir / "zoo.cfg"
    path.write_text("dataDir=rel/data\ndataLogDir=./logs\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    c = load_config(path)
    # ZooKeeper opens new File("rel/data"): the process's directory, not the config's.
    assert c.data_dir == str(work / "rel" / "data")
    assert c.data_log_dir == str(work / "logs")


# ------------------------------------------------------------------ ensembles


def test_three_server_ensemble_with_myid(tmp_path: Path) -> None:
    c = cfg(ensemble(tmp_path), tmp_path)
    assert c.is_replicated
    assert c.myid == 2
    assert c.servers == {
        n: ServerSpec(n, f"zk{n}.example", 2888, 3888, "participant", None, None) for n in (1, 2, 3)
    }
    assert (c.init_limit, c.sync_limit) == (10, 5)
    assert c.peer_type == "participant"


def test_observer_lines_and_peer_type(tmp_path: Path) -> None:
    extra = "server.4=obs.example:2888:3888:observer\npeerType=observer\n"
    c = cfg(ensemble(tmp_path, extra, myid="4\n"), tmp_path)
    assert c.servers[4].role == "observer"
    assert c.servers[1].role == "participant"
    assert c.peer_type == "observer" and c.myid == 4


def test_peer_type_that_disagrees_with_the_list_warns_and_the_list_wins(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zkeeper.config"):
        c = cfg(ensemble(tmp_path, "peerType=observer\n"), tmp_path)
    assert c.peer_type == "participant"
    assert "peerType (observer) does not match" in caplog.text


def test_client_port_in_the_server_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_myid(data, "1")
    text = (
        f"dataDir={data}\ninitLimit=5\nsyncLimit=2\n"
        "server.1=10.0.0.1:2888:3888;2191\n"
        "server.2=10.0.0.2:2888:3888:participant;10.0.0.2:2192\n"
        "server.3=[fe80::1]:2888:3888:observer;[::1]:2193\n"
        "server.4=10.0.0.4:2888:3888\n"
    )
    c = cfg(text, tmp_path)
    assert c.servers[1] == ServerSpec(1, "10.0.0.1", 2888, 3888, "participant", "0.0.0.0", 2191)
    assert c.servers[2] == ServerSpec(2, "10.0.0.2", 2888, 3888, "participant", "10.0.0.2", 2192)
    assert c.servers[3] == ServerSpec(3, "fe80::1", 2888, 3888, "observer", "::1", 2193)
    # This server's own line decides where clients connect.
    assert (c.client_port, c.client_port_address) == (2191, "0.0.0.0")


def test_client_port_that_agrees_with_the_server_line_is_fine(tmp_path: Path) -> None:
    c = cfg(ensemble(tmp_path).replace("server.2=zk2.example:2888:3888",
                                       "server.2=zk2.example:2888:3888;2181"), tmp_path)
    assert c.client_port == 2181


def test_one_participant_runs_standalone_unless_standalone_is_disabled(tmp_path: Path) -> None:
    line = "server.1=127.0.0.1:2888:3888\n"
    assert not cfg(line, tmp_path).is_replicated
    write_myid(tmp_path / "data", "1")
    c = cfg(line + "standaloneEnabled=false\ninitLimit=5\nsyncLimit=2\n", tmp_path)
    assert c.is_replicated and c.myid == 1 and not c.standalone_enabled


def test_dynamic_config_file_supplies_the_servers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_myid(data, "3")
    dynamic = tmp_path / "zoo.cfg.dynamic.100000000"
    dynamic.write_text("server.1=h1:2888:3888;2181\nserver.2=h2:2888:3888;2181\n"
                       "server.3=h3:2888:3888;2181\n")
    c = cfg(f"dataDir={data}\ninitLimit=5\nsyncLimit=2\nreconfigEnabled=true\n"
            f"dynamicConfigFile={dynamic.name}\n", tmp_path)
    assert sorted(c.servers) == [1, 2, 3] and c.myid == 3
    assert c.reconfig_enabled and c.client_port == 2181
    assert c.raw["server.2"] == "h2:2888:3888;2181"


def test_error_in_the_dynamic_file_names_that_file(tmp_path: Path) -> None:
    dynamic = tmp_path / "zoo.cfg.dynamic"
    dynamic.write_text("server.1=h1:2888:3888\nclientPort=2181\n")
    with pytest.raises(ConfigError) as err:
        cfg(f"dynamicConfigFile={dynamic}\n", tmp_path)
    assert (err.value.file, err.value.line, err.value.key) == (str(dynamic), 2, "clientPort")


# ------------------------------------------------------------------ errors

BAD_VALUES = [
    # (zoo.cfg body after the dataDir line, key, fragment of the message)
    ("clientPort=abc", "clientPort", "'abc' is not an integer"),
    ("clientPort=70000", "clientPort", "out of range"),
    ("clientPort=-1", "clientPort", "out of range"),
    ("tickTime=-2000", "tickTime", "less than the minimum 1"),
    ("tickTime=0", "tickTime", "less than the minimum 1"),
    ("tickTime=2000ms", "tickTime", "not an integer"),
    ("maxClientCnxns=99999999999", "maxClientCnxns", "out of range for a 32-bit"),
    ("peerType=leader", "peerType", "unrecognised peer type 'leader'"),
    ("standaloneEnabled=yes", "standaloneEnabled", "use 'true' or 'false'"),
    ("skipACL=true", "skipACL", "not 'yes' or 'no'"),
    ("zookeeper.forceSync=off", "zookeeper.forceSync", "not 'yes' or 'no'"),
    ("minSessionTimeout=9000\nmaxSessionTimeout=5000", "minSessionTimeout", "must not be larger"),
    ("electionAlg=1", "electionAlg", "only 3"),
    ("jute.maxbuffer=0", "jute.maxbuffer", "less than the minimum 1"),
    ("snapCount=lots", "snapCount", "not an integer"),
    ("admin.serverPort=http", "admin.serverPort", "not an integer"),
    ("metricsProvider.httpPort=99999", "metricsProvider.httpPort", "out of range"),
    ("metricsProvider.className=com.example.Nope", "metricsProvider.className", "was not found"),
    ("clientPortAddress=127.0.0.1", "clientPortAddress", "clientPort is not set"),
    ("secureClientPortAddress=127.0.0.1", "secureClientPortAddress", "secureClientPort is not set"),
    ("sslQuorum=maybe", "sslQuorum", "use 'true' or 'false'"),
    ("quorum.auth.serverRequireSasl=true", "quorum.auth.serverRequireSasl", "enableSasl"),
    ("dataLogDir=", "dataLogDir", "must not be empty"),
    ("admin.serverAddress=\\u12", "admin.serverAddress", "malformed"),
    # server.N lines
    ("server.1=h1:2888", "server.1", "does not have the form"),
    ("server.1=h1:2888:3888:observer:x", "server.1", "does not have the form"),
    ("server.x=h1:2888:3888", "server.x", "server id 'x'"),
    ("server.1=h1:2888:2888", "server.1", "must be different"),
    ("server.1=h1:2888:abc", "server.1", "port 'abc' is not an integer"),
    ("server.1=h1:0:3888", "server.1", "out of range"),
    ("server.1=h1:2888:3888:leader", "server.1", "unrecognised peer type"),
    ("server.1=h1:2888:3888;h:2181;x", "server.1", "does not have the form"),
    ("server.1=h1:2888:3888;a:b:2181", "server.1", "does not have the form"),
    ("server.1=h1:2888:3888;port", "server.1", "not an integer"),
    ("server.1=[::1:2888:3888", "server.1", "no matching ']'"),
    ("server.1=h1:2888:3888|h2:2888:3888", "server.1", "multiple addresses"),
    ("server.1=h1:2888:3888\nserver.01=h2:2888:3888", "server.01", "already listed on line 2"),
    ("server.1=h1:2888:3888\nserver.2=h2:2888:3888:observer", "server.2", "observers without a quorum"),
    ("server.1=h1:2888:3888:observer", "server.1", "observers without participants"),
    ("server.1=h1:2888:3888\ngroup.1=1", "group.1", "hierarchical"),
    ("standaloneEnabled=false", "standaloneEnabled", "at least one participant"),
    ("server.1=h1:2888:3888\ndynamicConfigFile=zoo.cfg.dynamic", "server.1", "separate dynamic"),
    ("dynamicConfigFile=missing.dynamic", "dynamicConfigFile", "cannot read"),
]


@pytest.mark.parametrize(("body", "key", "fragment"), BAD_VALUES)
def test_bad_value_names_file_line_and_key(tmp_path: Path, body: str, key: str, fragment: str) -> None:
    path = tmp_path / "my-zoo.cfg"
    path.write_text(f"dataDir={tmp_path / 'data'}\n{body}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    expected_line = 1 + next(i for i, line in enumerate(body.splitlines(), 1)
                             if line.split("=")[0] == key)
    assert (err.value.file, err.value.line, err.value.key) == (str(path), expected_line, key)
    assert str(err.value).startswith(f"{path}:{expected_line}: {key}: ")
    assert fragment in str(err.value)


def test_error_message_format() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text("tickTime=2000\ndataDir=/tmp/zk\n\n# ports\n\n\nclientPort=abc\n")
    assert str(err.value) == "zoo.cfg:7: clientPort: 'abc' is not an integer"


def test_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text("tickTime=2000\n", "conf/zoo.cfg")
    assert (err.value.file, err.value.line, err.value.key) == ("conf/zoo.cfg", None, "dataDir")
    assert str(err.value) == "conf/zoo.cfg: dataDir: is not set; it is required"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.cfg")
    assert err.value.file == str(tmp_path / "nope.cfg") and "cannot read" in str(err.value)


@pytest.mark.parametrize("key", ["initLimit", "syncLimit"])
def test_ensemble_needs_init_and_sync_limit(tmp_path: Path, key: str) -> None:
    text = "\n".join(line for line in ensemble(tmp_path).splitlines() if not line.startswith(key))
    with pytest.raises(ConfigError) as err:
        parse_config_text(text, base_dir=tmp_path)
    assert (err.value.file, err.value.line, err.value.key) == ("zoo.cfg", None, key)
    assert "is not set" in str(err.value)


def test_ensemble_rejects_a_zero_init_limit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(ensemble(tmp_path).replace("initLimit=10", "initLimit=0"), tmp_path)
    assert (err.value.line, err.value.key) == (2, "initLimit")


def test_config_error_survives_pickling() -> None:
    err = pickle.loads(pickle.dumps(ConfigError("zoo.cfg", 3, "tickTime", "'x' is not an integer")))
    assert (err.file, err.line, err.key, str(err)) == (
        "zoo.cfg", 3, "tickTime", "zoo.cfg:3: tickTime: 'x' is not an integer")


def test_ensemble_without_myid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(ensemble(tmp_path, myid=None), tmp_path)
    myid = str(tmp_path / "data" / "myid")
    assert (err.value.file, err.value.line, err.value.key) == (myid, None, "myid")
    assert "file is missing" in str(err.value)


@pytest.mark.parametrize(("content", "fragment"), [
    ("abc\n", "server id 'abc' is not a number"),
    ("", "server id '' is not a number"),
    ("7\n", "server id 7 is not in the server.N list (1, 2, 3)"),
])
def test_bad_myid(tmp_path: Path, content: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(ensemble(tmp_path, myid=content), tmp_path)
    assert (err.value.file, err.value.line, err.value.key) == (str(tmp_path / "data" / "myid"), 1, "myid")
    assert fragment in str(err.value)


def test_client_port_that_contradicts_the_server_line(tmp_path: Path) -> None:
    text = ensemble(tmp_path).replace("server.2=zk2.example:2888:3888",
                                      "server.2=zk2.example:2888:3888;2182")
    with pytest.raises(ConfigError) as err:
        cfg(text, tmp_path)
    assert (err.value.line, err.value.key) == (5, "clientPort")
    assert "0.0.0.0:2181 here but 0.0.0.0:2182 in server.2" in str(err.value)


def test_extended_types_limit_the_server_id(tmp_path: Path) -> None:
    text = ensemble(tmp_path, "extendedTypesEnabled=true\nserver.255=zk4.example:2888:3888\n",
                    myid="255")
    with pytest.raises(ConfigError, match="maximum is 254"):
        cfg(text, tmp_path)


# ------------------------------------------------------------------ clamps, aliases, unknown keys


def test_small_snap_retain_count_is_raised_to_three_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zkeeper.config"):
        c = cfg("autopurge.snapRetainCount=1\nautopurge.purgeInterval=1\nsnapCount=1\n", tmp_path)
    assert c.autopurge_snap_retain_count == 3 and c.autopurge_purge_interval == 1
    assert c.snap_count == 2
    assert "autopurge.snapRetainCount: 1 is too small" in caplog.text


def test_system_property_keys_work_with_and_without_the_zookeeper_prefix(tmp_path: Path) -> None:
    c = cfg(
        "zookeeper.skipACL=yes\n"
        "extendedTypesEnabled=true\n"
        "zookeeper.DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n"
        "forceSync=no\n"
        "zookeeper.snapCount=5000\n"
        "preAllocSize=1024\n"
        "fsync.warningthresholdms=50\n"
        "jute.maxbuffer=4194304\n"
        "readonlymode.enabled=true\n"
        "localSessionsEnabled=true\n"
        "admin.enableServer=false\n"
        "zookeeper.admin.serverPort=9090\n"
        "secureClientPort=2281\n"
        "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n"
        "metricsProvider.httpPort=7001\n"
        "metricsProvider.exportJvmInfo=false\n",
        tmp_path,
    )
    assert c.skip_acl and c.extended_types_enabled and not c.force_sync
    assert c.super_digest == "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
    assert (c.snap_count, c.pre_alloc_size_kb, c.fsync_warning_threshold_ms) == (5000, 1024, 50)
    assert c.jute_max_buffer == 4194304
    assert c.readonly_mode_enabled and c.local_sessions_enabled
    assert not c.admin_enable_server and c.admin_server_port == 9090
    assert c.secure_client_port == 2281 and c.metrics_http_port == 7001
    assert c.metrics_provider_class == PROMETHEUS_PROVIDER
    assert c.unknown == {}


def test_unknown_key_is_kept_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zkeeper.config"):
        c = cfg("tickTime=2000\nfancyFeature.enabled = on\nsyncEnabled=true\n", tmp_path)
    assert c.unknown == {"fancyFeature.enabled": "on"}
    assert c.raw["fancyFeature.enabled"] == "on"
    assert "zoo.cfg:3: fancyFeature.enabled: unknown key" in caplog.text
    assert "syncEnabled" not in caplog.text  # a ZooKeeper key, just not one we act on


# ------------------------------------------------------------------ 4lw whitelist


@pytest.mark.parametrize(("line", "expected"), [
    ("", {"srvr"}),
    ("4lw.commands.whitelist=", {"srvr"}),
    ("4lw.commands.whitelist=ruok, mntr ,stat", {"ruok", "mntr", "stat", "srvr"}),
    ("4lw.commands.whitelist=*", set(FOUR_LETTER_WORDS)),
    ("4lw.commands.whitelist=ruok,*", set(FOUR_LETTER_WORDS)),
    ("zookeeper.4lw.commands.whitelist=conf", {"conf", "srvr"}),
    ("readonlymode.enabled=true", {"srvr", "isro"}),
    ("readonlymode.enabled=true\n4lw.commands.whitelist=ruok", {"srvr", "isro", "ruok"}),
])
def test_four_letter_whitelist(tmp_path: Path, line: str, expected: set[str]) -> None:
    assert cfg(line + "\n", tmp_path).four_letter_whitelist == frozenset(expected)


def test_star_means_the_eighteen_words_of_zookeeper_3_8() -> None:
    assert sorted(FOUR_LETTER_WORDS) == sorted(
        "conf cons crst dirs dump envi gtmk ruok stmk srvr srst stat wchc wchp wchs mntr isro hash".split())


def test_whitelist_drops_words_zookeeper_does_not_know(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="zkeeper.config"):
        c = cfg("4lw.commands.whitelist=ruok,RUOK,bogus\n", tmp_path)
    assert c.four_letter_whitelist == frozenset({"ruok", "srvr"})
    assert "'bogus' is not a four-letter word" in caplog.text
