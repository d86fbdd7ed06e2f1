"""Jute, ZooKeeper's binary record format: bounded reader/writer and every record.

Re-exports the public names so callers write `from zkeeper.jute import Reader, Stat`.
"""

from .io import JuteError, Reader, Writer
from .records import *  # noqa: F403
from .records import __all__ as _records_all

__all__ = ["JuteError", "Reader", "Writer", *_records_all]
