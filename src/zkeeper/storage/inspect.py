"""Print txn logs and snapshots as text, in the spirit of zkTxnLogToolkit.sh and
zkSnapShotToolkit.sh (SnapshotFormatter).

    python -m zkeeper.storage.inspect log <log file>
    python -m zkeeper.storage.inspect snapshot [-d] <snapshot file>

Exit status: 0 when the file reads cleanly, 1 when it is damaged, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..jute import CreateContainerTxn, CreateTTLTxn, CreateTxn, MultiTxn, SetDataTxn
from ..jute.schema import decode
from ..types import OpCode
from .errors import CorruptLogError, CorruptSnapshotError
from .format import TXN_RECORD_TYPES, FormatError, Scan
from .snapshot import load_snapshot
from .txnlog import LogReader

_MASK64 = (1 << 64) - 1
_OP_NAMES: dict[int, str] = {
    OpCode.CREATE: "create", OpCode.DELETE: "delete", OpCode.SET_DATA: "setData", OpCode.SET_ACL: "setACL",
    OpCode.CHECK: "check", OpCode.MULTI: "multi", OpCode.CREATE2: "create2", OpCode.RECONFIG: "reconfig",
    OpCode.CREATE_CONTAINER: "createContainer", OpCode.DELETE_CONTAINER: "deleteContainer",
    OpCode.CREATE_TTL: "createTtl", OpCode.CREATE_SESSION: "createSession",
    OpCode.CLOSE_SESSION: "closeSession", OpCode.ERROR: "error",
}


def op_name(op: int) -> str:
    return _OP_NAMES.get(op, f"unknown {op}")


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]}


def _text(data: bytes | None) -> str:
    """Data as text, one line per txn: UTF-8 where it is, escapes where it is not."""
    if not data:
        return ""
    return data.decode("utf-8", errors="backslashreplace").translate(_CONTROL)


def _acl(acl: list[Any]) -> str:
    return "[" + ",".join(f"{int(a.perms)}:{a.id.scheme}:{a.id.id}" for a in acl) + "]"


def format_txn(type_: int, txn: Any) -> str:
    """The txn part of a log line, as TxnLogToolkit.getFormattedTxnStr lays it out."""
    if txn is None:
        return ""
    if isinstance(txn, CreateTxn):
        return f"{txn.path},{_text(txn.data)},{_acl(txn.acl)},{str(txn.ephemeral).lower()},{txn.parentCVersion}"
    if isinstance(txn, SetDataTxn):
        return f"{txn.path},{_text(txn.data)},{txn.version}"
    if isinstance(txn, CreateContainerTxn):
        return f"{txn.path},{_text(txn.data)},{_acl(txn.acl)},{txn.parentCVersion}"
    if isinstance(txn, CreateTTLTxn):
        return f"{txn.path},{_text(txn.data)},{_acl(txn.acl)},{txn.parentCVersion},{txn.ttl}"
    if isinstance(txn, MultiTxn):
        parts = []
        for sub in txn.txns:
            try:
                inner = format_txn(sub.type, decode(TXN_RECORD_TYPES[sub.type], sub.data))
            except (KeyError, ValueError):
                inner = _text(sub.data)
            parts.append(f"{op_name(sub.type)}:{inner}")
        return ";".join(parts)
    return repr(txn)


def _when(ms: int) -> str:
    return time.strftime("%m/%d/%y %H:%M:%S %Z", time.localtime(ms / 1000)) + f" ({ms})"


def dump_log(path: Path, out: TextIO) -> int:
    with LogReader(path) as r:
        if r.header is None:
            print(f"{path}: no file header (empty or never written)", file=out)
            return 1
        print(f"ZooKeeper Transactional Log File with dbid {r.header.dbid} "
              f"txnlog format version {r.header.version}", file=out)
        count = 0
        for rec in r.records():
            try:
                e = rec.decode()
            except FormatError as err:
                print(f"UNDECODABLE at offset {rec.offset}: {err}", file=out)
                return 1
            h = e.hdr
            line = (f"{_when(h.time)} session 0x{h.clientId & _MASK64:x} cxid 0x{h.cxid & 0xFFFFFFFF:x} "
                    f"zxid 0x{h.zxid:x} {op_name(h.type)} {format_txn(h.type, e.txn)}")
            if e.digest is not None:
                line += f" [digest v{e.digest.version} {e.digest.treeDigest}]"
            print(line.rstrip(), file=out)
            count += 1
        stop = r.stop
        if stop.status is Scan.END and r.last_nonzero(stop.offset) == stop.offset:
            print(f"EOF reached after {count} txns.", file=out)
            return 0
        try:
            following = r.valid_record_after(stop.offset)
        except CorruptLogError as err:
            print(f"DAMAGED after {count} txns: {err}", file=out)
            return 1
        what = stop.reason or "non-zero bytes after a zero-length record"
        if following is None:
            print(f"TORN TAIL after {count} txns at offset {stop.offset}: {what}", file=out)
        else:
            print(f"CORRUPT after {count} txns at offset {stop.offset}: {what}; "
                  f"valid records follow at offset {following}", file=out)
        return 1


def _hex(v: int) -> str:
    return f"{v & _MASK64:#016x}"


def _date(ms: int) -> str:
    return time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(ms / 1000))


def dump_snapshot(path: Path, out: TextIO, dump_data: bool = False) -> int:
    try:
        snap = load_snapshot(path)
    except CorruptSnapshotError as e:
        print(f"CORRUPT: {e}", file=out)
        return 1
    tree = snap.tree
    print(f"ZNode Details (count={len(tree.nodes)}):", file=out)
    highest = 0
    stack = ["/"]
    while stack:
        p = stack.pop()
        n = tree.nodes[p]
        highest = max(highest, n.mzxid, n.pzxid)
        print("----", file=out)
        print(p, file=out)
        print(f"  cZxid = {_hex(n.czxid)}\n  ctime = {_date(n.ctime)}\n  mZxid = {_hex(n.mzxid)}\n"
              f"  mtime = {_date(n.mtime)}\n  pZxid = {_hex(n.pzxid)}\n  cversion = {n.cversion}\n"
              f"  dataVersion = {n.version}\n  aclVersion = {n.aversion}\n"
              f"  ephemeralOwner = {_hex(n.ephemeral_owner)}", file=out)
        if dump_data:
            print(f"  data = {base64.b64encode(n.data or b'').decode('ascii')}", file=out)
        else:
            print(f"  dataLength = {len(n.data or b'')}", file=out)
        prefix = "/" if p == "/" else p + "/"
        stack.extend(prefix + c for c in reversed(n.children_in_java_order()))
    print("----", file=out)
    print("Session Details (sid, timeout, ephemeralCount):", file=out)
    for sid, timeout in snap.sessions.items():
        print(f"{_hex(sid)}, {timeout}, {len(tree.ephemerals.get(sid, ()))}", file=out)
    if snap.digest is not None:
        print(f"Target zxid digest is: {snap.digest.zxid:x}, {snap.digest.digest}", file=out)
    print(f"----\nLast zxid: 0x{max(snap.zxid, highest):x}", file=out)
    return 0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m zkeeper.storage.inspect",
                                     description="Print a ZooKeeper txn log or snapshot file.")
    sub = parser.add_subparsers(dest="kind", required=True)
    p_log = sub.add_parser("log", help="dump a txn log file")
    p_log.add_argument("file", type=Path)
    p_snap = sub.add_parser("snapshot", help="dump a snapshot file")
    p_snap.add_argument("-d", "--dump-data", action="store_true", help="print each znode's data (base64)")
    p_snap.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"{args.file}: no such file", file=sys.stderr)
        return 2
    try:
        if args.kind == "log":
            return dump_log(args.file, out)
        return dump_snapshot(args.file, out, args.dump_data)
    except CorruptLogError as e:
        print(f"CORRUPT: {e}", file=out)
        return 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `... | head`: stop quietly, as shell tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
