"""State of the NLPearl sandbox: settings, accepted calls, the agent queue and faults.

Everything here is synchronous, so one request changes the state in a single step of
the event loop. A lock also keeps reads from other threads consistent, for example a
test that inspects the calls while the real server runs in a thread.
"""

from __future__ import annotations

import enum
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import MappingProxyType

DEMO_ACCOUNT_ID = "sandbox-account"
DEMO_SECRET_KEY = "sandbox-secret"
DEMO_OUTBOUND_ID = "6650f0c2a1b2c3d4e5f60718"

CALLER_NUMBER = "+12015550100"
"""Caller number of every sandbox call, from a range reserved for fictional use."""

SERVER_ERROR_STATUSES = frozenset(
    status.value for status in HTTPStatus if status >= HTTPStatus.INTERNAL_SERVER_ERROR
)
"""Server error statuses (500 to 599) that Python's `http.HTTPStatus` lists."""

Clock = Callable[[], float]
"""Monotonic clock in seconds, `time.monotonic` unless a test injects its own."""


class CallRequestStatus(enum.IntEnum):
    """Status of a call request, with the values of the NLPearl Get Call Request API."""

    IN_CALL_QUEUE = 1
    ON_CALL = 2
    COMPLETED = 10


@dataclass(frozen=True)
class SandboxSettings:
    """Credentials, agent queue and injected faults of one sandbox."""

    account_id: str = DEMO_ACCOUNT_ID
    secret_key: str = DEMO_SECRET_KEY
    outbound_ids: tuple[str, ...] = (DEMO_OUTBOUND_ID,)

    agents: int = 3
    """Agents that take calls at the same time. Later calls wait in the queue."""

    call_seconds: float = 60.0
    """Simulated length of one call in seconds, measured on the sandbox clock."""

    latency_seconds: float = 0.0
    """Delay in seconds before every API response that passes the auth check."""

    rate_limit_per_second: float | None = None
    """Make Call requests admitted per second before the sandbox responds with 429."""

    error_rates: Mapping[int, float] = field(default_factory=dict)
    """Share of Make Call requests failed with each error status, recording no call."""

    seed: int | None = None
    """Seed of the random draws for faults, so that a run can be repeated."""

    timeout_after_record_rate: float = 0.0
    """Share of accepted calls that are recorded but get no response for an hour."""

    drop_before_record_rate: float = 0.0
    """Share of Make Call requests whose connection closes, with no call recorded."""

    drop_after_record_rate: float = 0.0
    """Share of accepted calls that are recorded and then lose their connection."""

    connect_error_rate: float = 0.0
    """Share of Make Call requests refused before sending, in-process only.

    A real server cannot refuse one connection and accept the next, because the kernel
    accepts every connection on a listening socket, so `serve` rejects this knob.
    """

    def __post_init__(self) -> None:
        """Validate every knob and freeze `error_rates` against later changes."""
        _check_queue(self)
        _check_rates(self)
        object.__setattr__(
            self, "error_rates", MappingProxyType(dict(self.error_rates))
        )


def _check_queue(settings: SandboxSettings) -> None:
    """Raise ValueError unless the credential, queue and timing knobs are usable."""
    if not settings.outbound_ids:
        raise ValueError("outbound_ids is empty: give at least one outbound id")
    if settings.agents < 1:
        raise ValueError(f"agents must be at least 1, got {settings.agents}")
    if settings.call_seconds <= 0:
        raise ValueError(f"call_seconds must be positive, got {settings.call_seconds}")
    if settings.latency_seconds < 0:
        raise ValueError(
            f"latency_seconds must not be negative, got {settings.latency_seconds}"
        )
    limit = settings.rate_limit_per_second
    if limit is not None and limit <= 0:
        raise ValueError(f"rate_limit_per_second must be positive or None, got {limit}")


def _check_rates(settings: SandboxSettings) -> None:
    """Raise ValueError unless every fault share is a valid probability."""
    for status, rate in settings.error_rates.items():
        if not _is_error_status(status):
            raise ValueError(f"error_rates key {status} is not an HTTP error status")
        _check_share(f"error_rates[{status}]", rate)

    _check_share("sum of error_rates", sum(settings.error_rates.values()))
    _check_share("timeout_after_record_rate", settings.timeout_after_record_rate)
    _check_share("drop_before_record_rate", settings.drop_before_record_rate)
    _check_share("drop_after_record_rate", settings.drop_after_record_rate)
    _check_share("connect_error_rate", settings.connect_error_rate)
    _check_share(
        "drop_after_record_rate + timeout_after_record_rate",
        settings.drop_after_record_rate + settings.timeout_after_record_rate,
    )


def _is_error_status(status: int) -> bool:
    """Return whether the status is a known HTTP status of 400 or above."""
    try:
        return HTTPStatus(status) >= 400
    except ValueError:
        return False


def _check_share(name: str, value: float) -> None:
    """Raise ValueError unless the value lies between 0 and 1."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


class AfterRecordFault(enum.Enum):
    """Fault injected after a Make Call request has been recorded as a call."""

    DROP_CONNECTION = "drop_connection"
    WITHHOLD_RESPONSE = "withhold_response"


@dataclass(frozen=True)
class CallRecord:
    """Call accepted by the sandbox, with its place in the agent queue."""

    id: str
    outbound_id: str
    to: str
    call_data: Mapping[str, str] | None
    from_number: str
    queue_position: int
    created: datetime

    call_id: str
    """Id of the call itself, which Get Call Request shows once an agent takes it."""

    starts_at: float
    """Clock time in seconds when an agent takes the call."""

    ends_at: float
    """Clock time in seconds when the call ends and its agent is free again."""

    def status_at(self, now: float) -> CallRequestStatus:
        """Return the status of the call request at clock time `now`."""
        if now < self.starts_at:
            return CallRequestStatus.IN_CALL_QUEUE
        if now < self.ends_at:
            return CallRequestStatus.ON_CALL

        return CallRequestStatus.COMPLETED


class TokenBucket:
    """Token bucket that enforces `rate_limit_per_second` on the sandbox clock.

    It stores at most `max(1, rate)` tokens, so a burst of up to one second's worth of
    requests passes before the limit applies.
    """

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated_at = now

    def take(self, now: float) -> float:
        """Take one token and return 0, or return the seconds until one is due."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated_at = now

        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0

        return (1.0 - self.tokens) / self.rate


class SandboxState:
    """Accepted calls, request count, rate limiter and fault draws of one sandbox."""

    _calls: list[CallRecord]
    _calls_by_id: dict[str, CallRecord]
    _requests_seen: int
    _random: random.Random
    _bucket: TokenBucket | None

    def __init__(
        self, settings: SandboxSettings, clock: Clock = time.monotonic
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Clear the calls and the request count, and restart the random draws."""
        with self._lock:
            self._calls = []
            self._calls_by_id = {}
            self._requests_seen = 0
            self._random = random.Random(self.settings.seed)
            self._bucket = self._new_bucket()

    def _new_bucket(self) -> TokenBucket | None:
        rate = self.settings.rate_limit_per_second
        if rate is None:
            return None

        return TokenBucket(rate, self.clock())

    @property
    def calls(self) -> list[CallRecord]:
        """Copy of the accepted calls, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def requests_seen(self) -> int:
        """Make Call requests received, including those rejected or failed."""
        with self._lock:
            return self._requests_seen

    def find_call(self, request_id: str) -> CallRecord | None:
        """Return the accepted call with this request id, or None."""
        with self._lock:
            return self._calls_by_id.get(request_id)

    def count_request(self) -> None:
        """Count one Make Call request as received."""
        with self._lock:
            self._requests_seen += 1

    def retry_after(self) -> int | None:
        """Apply the rate limit and return the whole seconds to wait, or None."""
        with self._lock:
            if self._bucket is None:
                return None
            wait = self._bucket.take(self.clock())

        if wait == 0.0:
            return None

        return max(1, math.ceil(wait))

    def draw_error_status(self) -> int | None:
        """Draw whether this request fails with an injected status, and which one."""
        rates = self.settings.error_rates
        if not rates:
            return None

        with self._lock:
            draw = self._random.random()
        threshold = 0.0
        for status in sorted(rates):
            threshold += rates[status]
            if draw < threshold:
                return status

        return None

    def draw_connect_error(self) -> bool:
        """Draw whether a Make Call connection is refused before the request is sent."""
        return self._draw(self.settings.connect_error_rate)

    def draw_drop_before_record(self) -> bool:
        """Draw whether a Make Call connection closes before the call is recorded."""
        return self._draw(self.settings.drop_before_record_rate)

    def draw_after_record_fault(self) -> AfterRecordFault | None:
        """Draw whether a recorded call loses its connection or its response, or None.

        One draw decides both faults, so their rates add up and never overlap.
        """
        drop_rate = self.settings.drop_after_record_rate
        timeout_rate = self.settings.timeout_after_record_rate
        if drop_rate + timeout_rate == 0.0:
            return None

        with self._lock:
            draw = self._random.random()
        if draw < drop_rate:
            return AfterRecordFault.DROP_CONNECTION
        if draw < drop_rate + timeout_rate:
            return AfterRecordFault.WITHHOLD_RESPONSE

        return None

    def _draw(self, rate: float) -> bool:
        """Draw true with probability `rate`, without a draw when the rate is 0."""
        if rate == 0.0:
            return False

        with self._lock:
            return self._random.random() < rate

    def record_call(
        self, outbound_id: str, to: str, call_data: Mapping[str, str] | None
    ) -> CallRecord:
        """Record an accepted call and place it with a free agent or in the queue."""
        with self._lock:
            now = self.clock()
            starts_at = self._next_start(now)
            waiting = self._count_waiting(now) + 1 if starts_at > now else 0
            record = CallRecord(
                id=secrets.token_hex(12),
                outbound_id=outbound_id,
                to=to,
                call_data=call_data,
                from_number=CALLER_NUMBER,
                queue_position=waiting,
                created=datetime.now(UTC),
                call_id=secrets.token_hex(12),
                starts_at=starts_at,
                ends_at=starts_at + self.settings.call_seconds,
            )
            self._calls.append(record)
            self._calls_by_id[record.id] = record

        return record

    def _next_start(self, now: float) -> float:
        """Return when the next call gets an agent, first come first served.

        Every call lasts `call_seconds`, so start times never decrease and a new call
        takes the agent of the call `agents` places before it.
        """
        agents = self.settings.agents
        if len(self._calls) < agents:
            return now

        return max(now, self._calls[-agents].ends_at)

    def _count_waiting(self, now: float) -> int:
        """Count the accepted calls that have no agent yet at clock time `now`."""
        waiting = 0
        for record in reversed(self._calls):
            if record.starts_at <= now:
                break
            waiting += 1

        return waiting
