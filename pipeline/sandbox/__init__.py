"""Fake NLPearl API for tests and demos, in-process or on 127.0.0.1.

`Sandbox(settings).transport()` gives an httpx transport that calls the app in the
same process, without a socket. `pipeline.sandbox.server.serve` runs the same app on a
real port. The settings script the faults: latency, a rate limit, error statuses,
refused and dropped connections, and responses that never arrive.
"""

from __future__ import annotations

from pipeline.sandbox.app import Sandbox
from pipeline.sandbox.model import (
    CALLER_NUMBER,
    DEMO_ACCOUNT_ID,
    DEMO_OUTBOUND_ID,
    DEMO_SECRET_KEY,
    SERVER_ERROR_STATUSES,
    CallRecord,
    CallRequestStatus,
    SandboxSettings,
)

__all__ = [
    "CALLER_NUMBER",
    "DEMO_ACCOUNT_ID",
    "DEMO_OUTBOUND_ID",
    "DEMO_SECRET_KEY",
    "SERVER_ERROR_STATUSES",
    "CallRecord",
    "CallRequestStatus",
    "Sandbox",
    "SandboxSettings",
]
