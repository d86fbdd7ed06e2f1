"""Retrying an operation through connection trouble: backoff, jitter, tries, a deadline.

What is retried: `ConnectionLoss` and `OperationTimeoutError` (the session lives on;
the client reconnects by itself) and, unless `ignore_expire=False`, SessionExpiredError
(the client makes a new session). What is not: a ConnectionLoss whose op is
`RetrySafety.UNSAFE` (a sequential create or a transaction may have been applied
already; sending it again could apply it twice), unless `allow_unsafe=True`. A
MAY_REPORT_DONE op (plain create, delete, versioned set) is retried, and its retry
may then raise NodeExistsError/NoNodeError/BadVersionError for a first try that
did land: callers that care treat those as success.
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .exceptions import ConnectionClosedError, ConnectionLoss, OperationTimeoutError, SessionExpiredError
from .ops import RetrySafety

T = TypeVar("T")


class RetryFailedError(Exception):
    """The tries or the deadline ran out; `__cause__` is the last failure."""


class Retry:
    def __init__(self, max_tries: int | None = None, delay: float = 0.1, backoff: float = 2.0,
                 max_jitter: float = 0.4, max_delay: float = 10.0, deadline: float | None = None,
                 ignore_expire: bool = True, allow_unsafe: bool = False,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`max_tries` None = no limit; `deadline` in seconds from the first try (None = none)."""
        self.max_tries = max_tries
        self.delay = delay
        self.backoff = backoff
        self.max_jitter = max_jitter
        self.max_delay = max_delay
        self.deadline = deadline
        self.ignore_expire = ignore_expire
        self.allow_unsafe = allow_unsafe
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock

    def copy(self, **changes: Any) -> Retry:
        """The same policy with some settings changed: `client.retry.copy(max_tries=3)`."""
        new = copy.copy(self)
        for name, value in changes.items():
            if not hasattr(new, name) or name.startswith("_"):
                raise TypeError(f"Retry has no setting {name!r}")
            setattr(new, name, value)
        return new

    def _retryable(self, e: BaseException) -> bool:
        if isinstance(e, ConnectionLoss):
            return self.allow_unsafe or e.retry_safety is not RetrySafety.UNSAFE
        if isinstance(e, OperationTimeoutError):
            return True
        if isinstance(e, ConnectionClosedError):
            return False
        return isinstance(e, SessionExpiredError) and self.ignore_expire

    async def __call__(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        start = self._clock()
        delay = self.delay
        tries = 0
        while True:
            try:
                return await func(*args, **kwargs)
            except Exception as e:
                if not self._retryable(e):
                    raise
                tries += 1
                if self.max_tries is not None and tries >= self.max_tries:
                    raise RetryFailedError(f"gave up after {tries} tries") from e
                pause = min(delay + self._rng.uniform(0, self.max_jitter), self.max_delay)
                if self.deadline is not None and self._clock() + pause - start > self.deadline:
                    raise RetryFailedError(f"deadline of {self.deadline}s reached") from e
                await self._sleep(pause)
                delay = min(delay * self.backoff, self.max_delay)
