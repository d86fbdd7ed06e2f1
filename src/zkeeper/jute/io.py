"""Big-endian jute primitives over a bytes buffer.

The reader never reads past its buffer and rejects negative or oversized lengths with
JuteError, so a malformed frame cannot make us allocate or loop without bound.
"""

from __future__ import annotations

import struct

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


class JuteError(ValueError):
    """The bytes are not a valid encoding of the expected record."""


class Reader:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _take(self, n: int) -> int:
        p = self.pos
        if p + n > self.end:
            raise JuteError(f"record truncated: need {n} bytes at offset {p}, have {self.end - p}")
        self.pos = p + n
        return p

    def int(self) -> int:
        return _INT.unpack_from(self.buf, self._take(4))[0]

    def long(self) -> int:
        return _LONG.unpack_from(self.buf, self._take(8))[0]

    def bool(self) -> bool:
        return self.buf[self._take(1)] != 0

    def buffer(self) -> bytes | None:
        n = self.int()
        if n < 0:
            return None
        p = self._take(n)
        return bytes(self.buf[p : p + n])

    def ustring(self) -> str | None:
        raw = self.buffer()
        if raw is None:
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JuteError(f"invalid UTF-8 in string: {e}") from None

    def count(self) -> int:
        """A vector length; -1 (null) is returned as -1. Each element needs >= 1 byte."""
        n = self.int()
        if n > self.remaining:
            raise JuteError(f"vector length {n} exceeds the {self.remaining} bytes left")
        return n


class Writer:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = bytearray()

    def int(self, v: int) -> None:
        self.parts += _INT.pack(v)

    def long(self, v: int) -> None:
        self.parts += _LONG.pack(v)

    def bool(self, v: bool) -> None:
        self.parts.append(1 if v else 0)

    def buffer(self, v: bytes | None) -> None:
        if v is None:
            self.parts += _INT.pack(-1)
        else:
            self.parts += _INT.pack(len(v))
            self.parts += v

    def ustring(self, v: str | None) -> None:
        self.buffer(None if v is None else v.encode("utf-8"))

    def raw(self, v: bytes) -> None:
        self.parts += v

    def getvalue(self) -> bytes:
        return bytes(self.parts)
