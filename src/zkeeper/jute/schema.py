"""Declaring jute records: a dataclass plus the jute type of each field, in order.

`@jute("ustring", "bool")` on a frozen dataclass adds `write(w)` and `read(r)` built
once per class, so every record is declared in exactly one place, as in zookeeper.jute.
A field type is a primitive name, `Vec(type)` or another record class.
"""

from __future__ import annotations

import dataclasses
import struct
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


_FIXED = {"int": "i", "long": "q", "bool": "?"}


def _runs(names: list[str], types: tuple[Any, ...]) -> list[tuple[str, list[str], Any]]:
    """Group consecutive fixed-width fields so each group is one struct call."""
    runs: list[tuple[str, list[str], Any]] = []
    for name, t in zip(names, types):
        if isinstance(t, str) and t in _FIXED:
            if runs and runs[-1][0] == "fixed":
                runs[-1][1].append(name)
                runs[-1] = ("fixed", runs[-1][1], runs[-1][2] + _FIXED[t])
            else:
                runs.append(("fixed", [name], ">" + _FIXED[t]))
        else:
            runs.append(("other", [name], t))
    return runs


def _compile(cls: type, names: list[str], types: tuple[Any, ...]) -> tuple[Any, Any]:
    """Generate read/write functions for one record: these run on every request, so
    fixed-width runs become single struct calls instead of a loop over fields."""
    env: dict[str, Any] = {"cls": cls, "JuteError": JuteError}
    read_lines = ["def read(klass, r):"]
    write_lines = ["def write(self, w):", "    parts = w.parts"]
    for i, (kind, fields, spec) in enumerate(_runs(names, types)):
        if kind == "fixed":
            st = struct.Struct(spec)
            env[f"S{i}"] = st
            targets = ", ".join(fields) + ","
            read_lines.append(f"    p = r.pos")
            read_lines.append(f"    if p + {st.size} > r.end: r._take({st.size})")
            read_lines.append(f"    {targets} = S{i}.unpack_from(r.buf, p)")
            read_lines.append(f"    r.pos = p + {st.size}")
            args = ", ".join(f"self.{f}" for f in fields)
            write_lines.append(f"    parts += S{i}.pack({args})")
        else:
            (field,) = fields
            env[f"R{i}"] = _reader(spec)
            env[f"W{i}"] = _writer(spec)
            read_lines.append(f"    {field} = R{i}(r)")
            write_lines.append(f"    W{i}(w, self.{field})")
    read_lines.append(f"    return klass({', '.join(names)})")
    exec("\n".join(read_lines), env)  # noqa: S102 - generated from the record's own field list
    exec("\n".join(write_lines), env)  # noqa: S102
    return env["read"], env["write"]


def jute(*types: Any) -> Callable[[type[T]], type[T]]:
    def wrap(cls: type[T]) -> type[T]:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        if len(names) != len(types):
            raise TypeError(f"{cls.__name__}: {len(names)} fields but {len(types)} jute types")
        read, write = _compile(cls, names, types)
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
