"""Election port bytes, as QuorumCnxManager and FastLeaderElection (3.8) put them on the wire.

A connection opens with an initial message from the connecting side:
    long protocolVersion (-65536 = V1, -65535 = V2), long sid, int n, n bytes of
    "host:port" (V2: several joined by '|'); a non-negative first long is a pre-3.5 sid.
After that each direction carries frames: int length (1..512 KiB) + one notification:
    int state, long leader, long zxid, long electionEpoch, long peerEpoch,
    int version (2), int n, n bytes of config (QuorumMaj.toString()).
Older peers send 28 bytes (no peerEpoch) or 40 bytes (no version). Pure: bytes in, values out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .vote import NOTIFICATION_VERSION, Notification, ServerState
from .zxid import epoch_of

PROTOCOL_VERSION_V1 = -65536  # sent by 3.5+ unless multiAddress.enabled
PROTOCOL_VERSION_V2 = -65535  # 3.6+ with multiAddress.enabled: several addresses
MAX_INITIAL_ADDRESS_BYTES = 2048  # QuorumCnxManager.maxBuffer
MAX_FRAME = 512 * 1024  # QuorumCnxManager.PACKETMAXSIZE
OBSERVER_ID = 2**63 - 1  # QuorumPeer.OBSERVER_ID: an observer that has no id of its own

_HEAD = struct.Struct(">iqqq")  # state, leader, zxid, electionEpoch: every format has these
_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")
_V2_HEAD = struct.Struct(">iqqqqii")


class WireError(ValueError):
    """The peer sent bytes that are not a valid election message; drop it (or the connection)."""


def encode_notification(n: Notification) -> bytes:
    """FastLeaderElection.buildMsg: the version-2 layout, without the frame length."""
    assert n.version == NOTIFICATION_VERSION, "we only ever send the current format"
    head = _V2_HEAD.pack(int(n.state), n.leader, n.zxid, n.election_epoch, n.peer_epoch,
                         NOTIFICATION_VERSION, len(n.config))
    return head + n.config


def decode_notification(body: bytes | bytearray | memoryview) -> Notification:
    """WorkerReceiver's parse, including the 28- and 40-byte formats of older peers."""
    size = len(body)
    if size < 28:
        raise WireError(f"notification of {size} bytes is shorter than the 28-byte minimum")
    raw_state, leader, zxid, election_epoch = _HEAD.unpack_from(body, 0)
    try:
        state = ServerState(raw_state)
    except ValueError:
        raise WireError(f"unknown server state {raw_state}") from None
    if size == 28:  # before ZOOKEEPER-107: no peer epoch, so it is the zxid's epoch
        return Notification(state, leader, zxid, election_epoch, epoch_of(zxid), 0)
    peer_epoch = _read(_LONG, body, 28)
    if size == 40:  # peer epoch but no version field (the trailing int is not read)
        return Notification(state, leader, zxid, election_epoch, peer_epoch, 0)
    version = _read(_INT, body, 36)
    if version <= 1:
        return Notification(state, leader, zxid, election_epoch, peer_epoch, version)
    length = _read(_INT, body, 40)
    if length < 0 or 44 + length > size:
        raise WireError(f"config length {length} does not fit a {size}-byte notification")
    return Notification(state, leader, zxid, election_epoch, peer_epoch, version, bytes(body[44:44 + length]))


def _read(st: struct.Struct, body: bytes | bytearray | memoryview, offset: int) -> int:
    if offset + st.size > len(body):
        raise WireError(f"notification truncated at byte {offset} of {len(body)}")
    return int(st.unpack_from(body, offset)[0])


# ---- framing -------------------------------------------------------------------------


def frame(body: bytes) -> bytes:
    """SendWorker.send: a 4-byte length, then the message."""
    assert 0 < len(body) <= MAX_FRAME, len(body)
    return _INT.pack(len(body)) + body


def split_frames(buf: bytearray) -> list[bytes]:
    """RecvWorker: take every complete frame off the front of `buf`, leaving the rest.

    A length outside 1..MAX_FRAME is a broken peer; ZooKeeper closes the connection.
    """
    frames: list[bytes] = []
    pos = 0
    while len(buf) - pos >= 4:
        (length,) = _INT.unpack_from(buf, pos)
        if length <= 0 or length > MAX_FRAME:
            raise WireError(f"frame length {length} is outside 1..{MAX_FRAME}")
        if len(buf) - pos - 4 < length:
            break
        frames.append(bytes(buf[pos + 4:pos + 4 + length]))
        pos += 4 + length
    del buf[:pos]
    return frames


# ---- the connection's first message ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitialMessage:
    """Who opened the connection and where its election port listens."""

    sid: int
    addresses: tuple[tuple[str, int], ...]  # empty for pre-3.5 peers and wildcard addresses
    protocol_version: int = PROTOCOL_VERSION_V1


def encode_initial_message(msg: InitialMessage) -> bytes:
    """QuorumCnxManager.startConnection's greeting."""
    if msg.protocol_version not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
        raise ValueError(f"unknown election protocol version {msg.protocol_version}")
    addresses = msg.addresses if msg.protocol_version == PROTOCOL_VERSION_V2 else msg.addresses[:1]
    text = "|".join(_format_address(h, p) for h, p in addresses).encode("utf-8")
    if not 0 < len(text) <= MAX_INITIAL_ADDRESS_BYTES:
        raise ValueError(f"election address of {len(text)} bytes is outside 1..{MAX_INITIAL_ADDRESS_BYTES}")
    return _LONG.pack(msg.protocol_version) + _LONG.pack(msg.sid) + _INT.pack(len(text)) + text


def decode_initial_message(buf: bytes | bytearray) -> tuple[InitialMessage, int] | None:
    """InitialMessage.parse on a buffer: the message and the bytes it used, or None for more.

    Observers without an id send OBSERVER_ID; QuorumCnxManager gives them a negative id,
    which is the transport's business, not ours.
    """
    if len(buf) < 8:
        return None
    (version,) = _LONG.unpack_from(buf, 0)
    if version >= 0:  # a pre-3.5 peer sends only its sid
        return InitialMessage(version, (), version), 8
    if version not in (PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2):
        raise WireError(f"unrecognised election protocol version {version}")
    if len(buf) < 20:
        return None
    (sid,) = _LONG.unpack_from(buf, 8)
    (length,) = _INT.unpack_from(buf, 16)
    if length <= 0 or length > MAX_INITIAL_ADDRESS_BYTES:
        raise WireError(f"unreasonable initial message length {length}")
    if len(buf) < 20 + length:
        return None
    text = bytes(buf[20:20 + length]).decode("utf-8", errors="replace")
    addresses = tuple(a for a in (_parse_address(s) for s in text.split("|")) if not _is_wildcard(a[0]))
    return InitialMessage(sid, addresses, version), 20 + length


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_address(text: str) -> tuple[str, int]:
    """ConfigUtils.getHostAndPort for one "host:port" or "[v6]:port"."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1:end + 2] != ":":
            raise WireError(f"badly formed address {text!r}")
        host, port = text[1:end], text[end + 2:]
    else:
        parts = text.split(":")
        if len(parts) != 2:
            raise WireError(f"badly formed address {text!r}")
        host, port = parts
    if not port.isascii() or not port.isdigit():
        raise WireError(f"bad port number in {text!r}")
    return host, int(port)


def _is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::", "0:0:0:0:0:0:0:0")
