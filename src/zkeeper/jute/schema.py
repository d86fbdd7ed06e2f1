"""Declaring jute records: a dataclass plus the jute type of each field, in order.

`@jute("ustring", "bool")` on a frozen dataclass adds `write(w)` and `read(r)` built
once per class, so every record is declared in exactly one place, as in zookeeper.jute.
A field type is a primitive name, `Vec(type)` or another record class.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar

from .io import JuteError, Reader, Writer

T = TypeVar("T")

_PRIMITIVE_READ: dict[str, Callable[[Reader], Any]] = {
    "int": Reader.int,
    "long": Reader.long,
    "bool": Reader.bool,
    "buffer": Reader.buffer,
    "ustring": Reader.ustring,
}
_PRIMITIVE_WRITE: dict[str, Callable[[Writer, Any], None]] = {
    "int": Writer.int,
    "long": Writer.long,
    "bool": Writer.bool,
    "buffer": Writer.buffer,
    "ustring": Writer.ustring,
}


@dataclasses.dataclass(frozen=True)
class Vec:
    """A jute `vector<T>`; None on the wire is a count of -1."""

    of: Any


def _reader(t: Any) -> Callable[[Reader], Any]:
    if isinstance(t, str):
        return _PRIMITIVE_READ[t]
    if isinstance(t, Vec):
        item = _reader(t.of)

        def read_vec(r: Reader) -> list[Any] | None:
            n = r.count()
            if n < 0:
                return None
            return [item(r) for _ in range(n)]

        return read_vec
    return t.read  # a record class


def _writer(t: Any) -> Callable[[Writer, Any], None]:
    if isinstance(t, str):
        return _PRIMITIVE_WRITE[t]
    if isinstance(t, Vec):
        item = _writer(t.of)

        def write_vec(w: Writer, v: list[Any] | None) -> None:
            if v is None:
                w.int(-1)
                return
            w.int(len(v))
            for x in v:
                item(w, x)

        return write_vec
    return lambda w, v: v.write(w)


def jute(*types: Any) -> Callable[[type[T]], type[T]]:
    def wrap(cls: type[T]) -> type[T]:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        if len(names) != len(types):
            raise TypeError(f"{cls.__name__}: {len(names)} fields but {len(types)} jute types")
        readers = [_reader(t) for t in types]
        pairs = list(zip(names, [_writer(t) for t in types]))

        def read(klass: type[T], r: Reader) -> T:
            return klass(*[rd(r) for rd in readers])

        def write(self: Any, w: Writer) -> None:
            for name, wr in pairs:
                wr(w, getattr(self, name))

        cls.read = classmethod(read)  # type: ignore[attr-defined]
        cls.write = write  # type: ignore[attr-defined]
        return cls

    return wrap


def encode(record: Any) -> bytes:
    w = Writer()
    record.write(w)
    return w.getvalue()


def decode(cls: type[T], data: bytes | bytearray | memoryview) -> T:
    """Decode one record; trailing bytes are ignored as ZooKeeper ignores them."""
    try:
        return cls.read(Reader(data))  # type: ignore[attr-defined, no-any-return]
    except (JuteError, IndexError) as e:
        raise JuteError(f"malformed {cls.__name__}: {e}") from None
