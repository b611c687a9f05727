"""The one retry rule of the API client: what is retried, how often, how long.

Only errors that cannot have placed a call are retried (`CallRetryable`),
with exponential backoff and jitter, or the server's `Retry-After`. Retries are
bounded by `max_attempts` and by `max_retry_seconds` in total. Tests make the
waits instant with `stamina.set_testing`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import stamina

from pipeline.config import NLPearlSettings
from pipeline.errors import CallRetryable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Backoff between attempts without Retry-After: 1 s, 2 s, 4 s ... up to 30 s,
# plus up to 1 s of jitter.
_WAIT_INITIAL = 1.0
_WAIT_MAX = 30.0


async def with_retries(
    operation: Callable[[], Awaitable[T]], settings: NLPearlSettings, label: str
) -> T:
    """Run `operation`, retrying `CallRetryable` errors within the bounds.

    Raises:
        CallRetryable: the last error, once the attempts or the time ran out,
            or when the server asked for a wait longer than the time left.
        Any other error of `operation`, at once.
    """
    attempts = stamina.retry_context(
        on=functools.partial(_backoff_for, label, settings.max_retry_seconds),
        attempts=settings.max_attempts,
        timeout=settings.max_retry_seconds,
        wait_initial=_WAIT_INITIAL,
        wait_max=_WAIT_MAX,
    )
    async for attempt in attempts:
        with attempt:
            return await operation()

    raise AssertionError("stamina.retry_context ended without an attempt")


def _backoff_for(label: str, limit: float, error: Exception) -> bool | float:
    """Return False to give up, True for the usual backoff, or seconds to wait."""
    if not isinstance(error, CallRetryable):
        return False
    if error.retry_after is not None and error.retry_after > limit:
        logger.warning(
            "%s: not retrying, the server asks for a wait of %.0f s, longer than "
            "max_retry_seconds (%.0f s)",
            label,
            error.retry_after,
            limit,
        )
        return False

    logger.info("%s: retrying after %s", label, error)

    return error.retry_after if error.retry_after is not None else True
