"""Tests of client-side pacing and the retry rule."""

from __future__ import annotations

import asyncio
import itertools

from pipeline.errors import CallRejected, CallRetryable
from pipeline.pacing import Pacer
from pipeline.retry import _backoff_for


class FakeTime:
    """A clock whose sleep only moves the clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_spaces_requests() -> None:
    """Five requests at 10 per second start 0.1 s apart."""
    fake = FakeTime()
    pacer = Pacer(10.0, clock=fake.clock, sleep=fake.sleep)
    starts: list[float] = []

    async def go() -> None:
        for _ in range(5):
            await pacer.wait()
            starts.append(fake.now)

    asyncio.run(go())

    gaps = [round(b - a, 6) for a, b in itertools.pairwise(starts)]
    assert gaps == [0.1, 0.1, 0.1, 0.1]


def test_pacer_concurrent_waiters_share_no_slot() -> None:
    """Workers waiting at once get distinct slots."""
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    pacer = Pacer(4.0, clock=lambda: 100.0, sleep=record)

    async def go() -> None:
        await asyncio.gather(*(pacer.wait() for _ in range(4)))

    asyncio.run(go())

    assert sorted(sleeps) == [0.25, 0.5, 0.75]


def test_pacer_without_limit_never_sleeps() -> None:
    """No rate means no waiting."""
    fake = FakeTime()
    pacer = Pacer(None, clock=fake.clock, sleep=fake.sleep)

    asyncio.run(pacer.wait())

    assert fake.sleeps == []


def test_retry_after_is_the_backoff() -> None:
    """A 429 with Retry-After: 2 waits 2 seconds before the next attempt."""
    error = CallRetryable("HTTP 429", retry_after=2.0)

    assert _backoff_for("row 2", 120.0, error) == 2.0


def test_retry_without_retry_after_backs_off() -> None:
    """A 503 without Retry-After uses the exponential backoff."""
    assert _backoff_for("row 2", 120.0, CallRetryable("HTTP 503")) is True


def test_retry_after_beyond_limit_gives_up() -> None:
    """A wait longer than max_retry_seconds is not waited out."""
    error = CallRetryable("HTTP 429", retry_after=600.0)

    assert _backoff_for("row 2", 120.0, error) is False


def test_rejection_not_retried() -> None:
    """A refused call is never retried."""
    assert _backoff_for("row 2", 120.0, CallRejected("HTTP 400")) is False
