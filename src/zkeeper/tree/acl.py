"""ACL rules: validating and expanding a request's ACL list, and permission checks.

Schemes as ZooKeeper's built-in providers: world (anyone), auth (the caller's
authenticated ids), digest (user:base64(sha1(user:password))), ip (address[/bits]),
and the super id that bypasses every check.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress

from ..errors import Code, KeeperError
from ..jute import ACL, Id
from ..types import Perms
from .javaorder import concurrent_set_order, java_id_hash

WORLD_ANYONE = Id("world", "anyone")
# Plain ints, not Perms members: ACL perms take part in bit tests on every request.
OPEN_ACL_UNSAFE = [ACL(int(Perms.ALL), WORLD_ANYONE)]
READ_ACL_UNSAFE = [ACL(int(Perms.READ), WORLD_ANYONE)]
SUPER_ID = Id("super", "")

# Schemes whose ids count as "authenticated" when expanding the `auth` scheme.
_AUTHENTICATED_SCHEMES = {"digest", "sasl", "x509", "super"}


def add_auth_id(auth_ids: list[Id], new: Id) -> None:
    """Add an id to a connection's auth ids, kept in the order ZooKeeper iterates them
    (a ConcurrentHashMap set), which is the order whoAmI and `auth` ACLs reveal."""
    if new in auth_ids:
        return
    auth_ids.append(new)
    order = concurrent_set_order([java_id_hash(i.scheme, i.id) for i in auth_ids])
    auth_ids[:] = [auth_ids[i] for i in order]


def user_name(ident: Id) -> str:
    """The user an auth id stands for (AuthenticationProvider.getUserName)."""
    if ident.scheme == "digest":
        return ident.id.split(":")[0]
    if ident.scheme in ("ip", "sasl", "x509"):
        return ident.id
    return ""


def generate_digest(id_password: str) -> str:
    """`user:password` -> `user:base64(sha1(user:password))`, as DigestAuthenticationProvider."""
    user = id_password.split(":", 1)[0]
    digest = hashlib.sha1(id_password.encode("utf-8")).digest()
    return f"{user}:{base64.b64encode(digest).decode('ascii')}"


def _ip_network(spec: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return None


def _is_valid_id(scheme: str, ident: str) -> bool:
    if scheme == "digest":
        # Java's split drops trailing empties: "a:b" is 2 parts, "a:" is 1.
        parts = ident.split(":")
        while parts and parts[-1] == "":
            parts.pop()
        return len(parts) == 2
    if scheme == "ip":
        return _ip_network(ident) is not None
    if scheme in ("sasl", "x509", "super"):
        return True
    return False


def fixup_acl(path: str, auth_ids: list[Id], acl: list[ACL] | None) -> list[ACL]:
    """Validate a request's ACL and expand `auth` entries; INVALIDACL when unusable."""
    unique: list[ACL] = []
    for a in acl or ():
        if a not in unique:
            unique.append(a)
    if not unique:
        raise KeeperError(Code.INVALIDACL, path)
    result: list[ACL] = []
    for a in unique:
        ident = a.id
        if ident is None or ident.scheme is None:
            raise KeeperError(Code.INVALIDACL, path)
        if ident.scheme == "world" and ident.id == "anyone":
            result.append(a)
        elif ident.scheme == "auth":
            expanded = [ACL(a.perms, cid) for cid in auth_ids if cid.scheme in _AUTHENTICATED_SCHEMES]
            if not expanded:
                raise KeeperError(Code.INVALIDACL, path)
            result.extend(expanded)
        else:
            if not _is_valid_id(ident.scheme, ident.id or ""):
                raise KeeperError(Code.INVALIDACL, path)
            result.append(a)
    return result


def _matches(acl_id: Id, auth_id: Id) -> bool:
    if acl_id.scheme == "ip":
        net = _ip_network(acl_id.id)
        try:
            addr = ipaddress.ip_address(auth_id.id)
        except ValueError:
            return False
        return net is not None and addr.version == net.version and addr in net
    return acl_id.id == auth_id.id


def check_acl(acl: list[ACL] | None, perm: int, auth_ids: list[Id], skip: bool = False) -> None:
    """Raise NOAUTH unless one of `auth_ids` holds `perm` in `acl` (any bit of it)."""
    if skip or not acl:
        return
    perm = int(perm)  # plain int math: IntFlag operators are slow on this hot path
    for cid in auth_ids:
        if cid.scheme == "super":
            return
    for a in acl:
        if not a.perms & perm:
            continue
        if a.id.scheme == "world" and a.id.id == "anyone":
            return
        for cid in auth_ids:
            if cid.scheme == a.id.scheme and _matches(a.id, cid):
                return
    raise KeeperError(Code.NOAUTH)


def may_read(acl: list[ACL], auth_ids: list[Id], skip: bool = False) -> bool:
    try:
        check_acl(acl, Perms.READ, auth_ids, skip)
    except KeeperError:
        return False
    return True


def redact_digests(acl: list[ACL]) -> list[ACL]:
    """Hide digest hashes from callers without ADMIN, as getACL does."""
    out = []
    for a in acl:
        if a.id.scheme == "digest" and ":" in a.id.id:
            out.append(ACL(a.perms, Id("digest", a.id.id.split(":", 1)[0] + ":x")))
        else:
            out.append(a)
    return out
