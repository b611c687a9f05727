"""Client-side pacing: requests spread evenly at no more than a set rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Pacer:
    """Spaces requests at least `1 / calls_per_second` apart across all workers.

    The slot is taken before the wait, with no await in between, so workers of
    one event loop never share a slot.
    """

    def __init__(
        self,
        calls_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / calls_per_second if calls_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_slot = 0.0

    async def wait(self) -> None:
        """Wait for this request's slot; return at once when there is no limit."""
        if not self._interval:
            return

        now = self._clock()
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        if slot > now:
            await self._sleep(slot - now)
