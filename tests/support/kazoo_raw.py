"""Requests kazoo 2.11 has no API for (containers, TTL nodes), sent through its raw `_call`."""

from __future__ import annotations

import struct
from collections import namedtuple
from typing import Any

from kazoo.protocol import serialization


class CreateContainer(serialization.Create2):  # type: ignore[misc]
    """createContainer (19): a CreateRequest with the CONTAINER flag; answered like create2."""

    type = 19


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    """createTTL (21): CreateRequest fields plus a long ttl; answered like create2."""

    type = 21

    def serialize(self) -> bytearray:
        b = serialization.Create2(self.path, self.data, self.acl, self.flags).serialize()
        b.extend(struct.pack(">q", self.ttl))
        return bytearray(b)

    deserialize = serialization.Create2.deserialize


def call(zk: Any, request: Any, timeout: float = 10.0) -> Any:
    """Send one raw request on a started kazoo client and wait for its result."""
    result = zk.handler.async_result()
    zk._call(request, result)
    return result.get(timeout=timeout)
