"""ACL helpers with kazoo's names: the usual ACL lists and digest credentials.

ACLs are the jute `ACL`/`Id` records, so what a program builds is what goes on the wire.
"""

from __future__ import annotations

import hashlib
from base64 import b64encode

from ..jute.records import ACL, Id
from ..types import Perms

ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")

OPEN_ACL_UNSAFE = [ACL(int(Perms.ALL), ANYONE_ID_UNSAFE)]
CREATOR_ALL_ACL = [ACL(int(Perms.ALL), AUTH_IDS)]
READ_ACL_UNSAFE = [ACL(int(Perms.READ), ANYONE_ID_UNSAFE)]


def make_digest_acl_credential(username: str, password: str) -> str:
    """`user:base64(sha1(user:password))`, the id of a digest ACL (DigestAuthenticationProvider)."""
    raw = f"{username}:{password}".encode()
    return f"{username}:{b64encode(hashlib.sha1(raw).digest()).decode()}"


def make_acl(scheme: str, credential: str, *, read: bool = False, write: bool = False,
             create: bool = False, delete: bool = False, admin: bool = False, all: bool = False) -> ACL:
    perms = Perms(0)
    for flag, perm in ((read, Perms.READ), (write, Perms.WRITE), (create, Perms.CREATE),
                       (delete, Perms.DELETE), (admin, Perms.ADMIN), (all, Perms.ALL)):
        if flag:
            perms |= perm
    return ACL(int(perms), Id(scheme, credential))


def make_digest_acl(username: str, password: str, **perms: bool) -> ACL:
    """A digest ACL for `username`/`password`; `perms` as for make_acl (read=True, ...)."""
    return make_acl("digest", make_digest_acl_credential(username, password), **perms)
