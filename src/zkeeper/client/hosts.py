"""Connect strings (`host1:2181,host2:2181/app`), the chroot, and the order hosts are tried.

Pure: the random source that shuffles the hosts is passed in, so tests can fix it.
Hosts are shuffled once so that many clients with one connect string spread over the
ensemble instead of all landing on the first server (StaticHostProvider does the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..paths import path_problem

if TYPE_CHECKING:  # the random source is passed in, never made here
    from random import Random

DEFAULT_PORT = 2181


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ConnectString:
    addresses: tuple[Address, ...]
    chroot: str | None  # None when the string names no chroot


def parse_connect_string(text: str) -> ConnectString:
    """Split hosts and the optional chroot; raise ValueError on a malformed string."""
    text = text.strip()
    slash = text.find("/")
    chroot: str | None = None
    if slash >= 0:
        chroot, text = text[slash:], text[:slash]
        if chroot == "/":
            chroot = None
        elif (problem := path_problem(chroot)) is not None:
            raise ValueError(f"bad chroot {chroot!r}: {problem}")
    addresses = tuple(_parse_address(part.strip()) for part in text.split(",") if part.strip())
    if not addresses:
        raise ValueError(f"no hosts in connect string {text!r}")
    return ConnectString(addresses, chroot)


def _parse_address(part: str) -> Address:
    if part.startswith("["):  # [ipv6]:port
        end = part.index("]")
        host, rest = part[1:end], part[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    elif part.count(":") == 1:
        host, _, port_text = part.partition(":")
        port = int(port_text)
    else:  # a bare host name or a bare IPv6 address
        host, port = part, DEFAULT_PORT
    if not host or not 0 < port < 65536:
        raise ValueError(f"bad host {part!r}")
    return Address(host, port)


@dataclass(frozen=True, slots=True)
class Chroot:
    """Maps the program's paths to the server's and back; a chroot of None is the identity."""

    prefix: str | None

    def add(self, path: str) -> str:
        if self.prefix is None:
            return path
        return self.prefix if path == "/" else self.prefix + path

    def strip(self, path: str) -> str:
        p = self.prefix
        if p is None or not path.startswith(p):
            return path
        rest = path[len(p) :]
        if rest == "":
            return "/"
        return rest if rest.startswith("/") else path


class HostRing:
    """The hosts in a shuffled, fixed order, handed out round and round."""

    def __init__(self, addresses: tuple[Address, ...], rng: Random) -> None:
        order = list(addresses)
        rng.shuffle(order)
        self._order = order
        self._next = 0

    def __len__(self) -> int:
        return len(self._order)

    def prefer(self, address: Address) -> None:
        """Make `address` the next one handed out (a read-write server was found there)."""
        self._next = self._order.index(address)

    def next(self) -> Address:
        addr = self._order[self._next]
        self._next = (self._next + 1) % len(self._order)
        return addr
