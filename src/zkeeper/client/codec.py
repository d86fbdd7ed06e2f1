"""Typed access to jute records: the `@jute` decorator adds `read`/`write` at import
time, out of a type checker's sight, so the client goes through these two functions."""

from __future__ import annotations

from typing import Any, TypeVar

from ..jute.io import Reader, Writer

R = TypeVar("R")


def put(w: Writer, record: Any) -> None:
    """Append `record`'s encoding to `w`."""
    record.write(w)


def get(cls: type[R], r: Reader) -> R:
    """Decode one `cls` record from `r`."""
    return cls.read(r)  # type: ignore[attr-defined, no-any-return]
