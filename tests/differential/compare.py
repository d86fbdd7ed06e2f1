"""Lock-step execution on two servers and the comparison of what each session saw.

Each step runs on the reference, then on the candidate; the two lists of observations
must be equal. On the first difference the failure message names the seed and step,
the request, the recent history and a diff of both observation lists, plus the command
that replays the run.
"""

from __future__ import annotations

import difflib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .driver import Driver
from .steps import UNORDERED_EVENT_STEPS, Entry, Step

HISTORY = 400


def canonical(step: Step, entries: Sequence[Entry]) -> list[Entry]:
    """Entries in a comparable order: as they arrived, except where ZooKeeper leaves it open.

    A closing or expiring session's ephemerals are deleted in hash-set order, so in
    those steps the watch events of each session are compared as a sorted list.
    """
    if not isinstance(step, UNORDERED_EVENT_STEPS):
        return list(entries)
    keyed = [((e.slot, 0, repr(e)) if e.kind == "event" else (e.slot, 1, f"{i:06d}"), e) for i, e in enumerate(entries)]
    return [e for _, e in sorted(keyed, key=lambda pair: pair[0])]


@dataclass
class Run:
    """A lock-step run: a reference and a candidate driver fed the same steps."""

    reference: Driver
    candidate: Driver
    names: tuple[str, str] = ("reference", "candidate")
    context: str = ""  # e.g. "seed=7"
    replay_hint: str = ""
    reference_log: Callable[[], str] | None = None  # process state (and log tail)
    candidate_log: Callable[[], str] | None = None
    reference_alive: Callable[[], bool] | None = None
    history: deque[str] = field(default_factory=lambda: deque(maxlen=HISTORY))
    steps_run: int = 0

    def step(self, step: Step) -> list[Entry]:
        """Run one step on both servers; fail on any difference. Returns the reference's entries."""
        index = self.steps_run
        self.steps_run += 1
        ref = self.reference.run(step)
        cand = self.candidate.run(step)
        harness = [e for e in ref if e.kind == "harness"]
        if harness:
            raise AssertionError(f"{self.context} step {index}: harness bug, {step.describe()}: {harness}")
        if self.reference_alive is not None and not self.reference_alive():
            raise AssertionError(f"{self.context} step {index}: the reference server exited after "
                                 f"{step.describe()}; the generator must not send requests that crash it")
        if canonical(step, ref) != canonical(step, cand):
            raise AssertionError(self._mismatch(index, step, ref, cand))
        self.history.append(f"{index:4d}  {step.describe()}")
        return ref

    def close(self) -> None:
        self.reference.shutdown()
        self.candidate.shutdown()

    def _mismatch(self, index: int, step: Step, ref: list[Entry], cand: list[Entry]) -> str:
        a, b = self.names
        lines = [
            f"{a} and {b} differ: {self.context} step {index}",
            f"request: {step.describe()}",
            "",
            "previous steps:",
            *(f"  {h}" for h in self.history),
            f"  {index:4d}  {step.describe()}   <-- differs",
            "",
            f"observations (- {a}, + {b}):",
        ]
        diff = difflib.ndiff([str(e) for e in canonical(step, ref)], [str(e) for e in canonical(step, cand)])
        lines += [f"  {d}" for d in diff if not d.startswith("?")]
        notes = [f"  {name}: {n}" for name, d in ((a, self.reference), (b, self.candidate)) for n in d.timing_notes[-5:]]
        if notes:
            lines += ["", "timing (a session may have expired because the harness stalled):", *notes]
        for name, log in ((a, self.reference_log), (b, self.candidate_log)):
            if log is not None:
                lines += ["", f"{name}:", log()]
        if self.replay_hint:
            lines += ["", f"replay: {self.replay_hint}"]
        return "\n".join(lines)


class Deadline:
    """A wall-clock bound for one seed, so a slow or hung server cannot stall the suite."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def check(self, what: str) -> None:
        if time.monotonic() > self.end:
            raise AssertionError(f"{what}: exceeded the {self.seconds:.0f}s time budget")
