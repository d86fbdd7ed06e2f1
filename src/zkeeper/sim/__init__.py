"""Deterministic cluster simulator: seeded scheduler, virtual clock and network, checkers.

It drives the same pure cores the server runs (zab.Election today) under delays, loss,
reordering, partitions and crashes. One seed reproduces a whole run; a failure names it.
"""

from ..zab.election import ElectionTiming
from .checks import InvariantViolation
from .cluster import PROFILES, Cluster, RunReport, SimConfig, print_run, run

__all__ = ["PROFILES", "Cluster", "ElectionTiming", "InvariantViolation", "RunReport", "SimConfig", "print_run", "run"]
