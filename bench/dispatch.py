"""Benchmark of the dispatcher against the sandbox server on 127.0.0.1.

Run from the repository root:

    .venv/bin/python bench/dispatch.py

It starts `python -m pipeline sandbox` with 100 ms of latency and dispatches
2,000 calls per case through the real client, retry rule and ledger. For each
case it prints the calls per second achieved, the bound `min(rate limit,
concurrency / latency)`, their ratio and the client's CPU time per call. Two
cases use httpx's own transport instead of the aiohttp one, and a sequential
loop, one request at a time as the vendor's own Python wrapper works, is
measured too. Targets: at least 90 % of the bound, at most 1 ms CPU per call.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline import sandbox
from pipeline.client import NLPearlClient
from pipeline.config import NLPearlSettings
from pipeline.dispatch import CallJob, dispatch
from pipeline.ledger import Ledger, LedgerRecorder
from pipeline.transport import AiohttpTransport

TOKEN = f"Bearer {sandbox.DEMO_ACCOUNT_ID}:{sandbox.DEMO_SECRET_KEY}"


@dataclass(frozen=True)
class Case:
    """One measured configuration of the dispatcher."""

    name: str
    concurrency: int
    calls_per_second: float | None
    httpx_transport: bool = False


@dataclass(frozen=True)
class Measurement:
    """Calls per second and client CPU time of one case."""

    calls: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


def fake_numbers() -> itertools.cycle[str]:
    """Cycle through the fake numbers that belong to no one."""
    us = [f"+1201555{n:04d}" for n in range(100, 200)]
    uk = [f"+44207946{n:04d}" for n in range(1000)]

    return itertools.cycle(us + uk)


def start_sandbox(latency: float) -> tuple[subprocess.Popen[str], str]:
    """Start the sandbox server with many agents and return it with its URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "sandbox",
            "--port",
            "0",
            "--latency",
            str(latency),
            "--agents",
            "1000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NLPEARL_")},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"the sandbox did not start: {line!r}")

    return process, line.split()[-1]


async def run_case(case: Case, url: str, calls: int, ledger: Ledger) -> Measurement:
    """Dispatch `calls` calls as the pipeline does and time them."""
    settings = NLPearlSettings(
        outbound_id=sandbox.DEMO_OUTBOUND_ID,
        base_url=url,
        concurrency=case.concurrency,
        calls_per_second=case.calls_per_second,
    )
    numbers = fake_numbers()
    jobs = [CallJob(row, next(numbers), {"firstName": "Ada"}) for row in range(calls)]
    recorder = LedgerRecorder(
        ledger, run_id=case.name, outbound_id=settings.outbound_id, lead_keys={}
    )
    limits = httpx.Limits(max_connections=case.concurrency)
    transport = (
        None
        if case.httpx_transport
        else AiohttpTransport(max_connections=case.concurrency)
    )

    async with httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": TOKEN},
        limits=limits,
        timeout=15,
        transport=transport,
    ) as http:
        client = NLPearlClient(http, settings.outbound_id, timeout_seconds=15)
        cpu_start, start = time.process_time(), time.perf_counter()
        report = await dispatch(jobs, client, settings, [recorder])
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start

    called = sum(result.status.value == "called" for result in report.results)
    if called != calls:
        raise SystemExit(f"{case.name}: only {called} of {calls} calls succeeded")

    return Measurement(calls, seconds, cpu_seconds)


def run_sequential(url: str, calls: int) -> Measurement:
    """Place calls one at a time with a blocking client, as the vendor wrapper does."""
    numbers = fake_numbers()
    path = f"/v1/Outbound/{sandbox.DEMO_OUTBOUND_ID}/Call"
    with httpx.Client(base_url=url, headers={"Authorization": TOKEN}) as http:
        cpu_start, start = time.process_time(), time.perf_counter()
        for _ in range(calls):
            response = http.post(path, json={"to": next(numbers), "callData": {}})
            response.raise_for_status()
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start

    return Measurement(calls, seconds, cpu_seconds)


def cpu_seconds_of(pid: int) -> float:
    """Return the CPU seconds a process has used, from /proc (Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bound(case: Case, latency: float) -> float:
    """Return the most calls per second the case could reach."""
    by_concurrency = case.concurrency / latency
    if case.calls_per_second is None:
        return by_concurrency

    return min(case.calls_per_second, by_concurrency)


def report_line(name: str, result: Measurement, limit: float) -> str:
    """Format one case's figures."""
    cpu_per_call = 1000 * result.cpu_seconds / result.calls

    return (
        f"{name:<34} {result.rate:8.1f} calls/s  bound {limit:7.1f}  "
        f"ratio {result.rate / limit:6.1%}  CPU {cpu_per_call:.3f} ms/call"
    )


def main() -> None:
    """Measure every case and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--sequential-calls", type=int, default=50)
    arguments = parser.parse_args()

    cases = [
        Case("concurrency 20", 20, None),
        Case("concurrency 40", 40, None),
        Case("concurrency 50", 50, None),
        Case("concurrency 50, 200 calls/s", 50, 200.0),
        Case("concurrency 20, httpx transport", 20, None, httpx_transport=True),
        Case("concurrency 50, httpx transport", 50, None, httpx_transport=True),
    ]
    process, url = start_sandbox(arguments.latency)
    try:
        with tempfile.TemporaryDirectory() as folder:
            ledger = Ledger(Path(folder) / "bench-ledger.sqlite")
            latency_ms = arguments.latency * 1000
            print(f"{arguments.calls} calls per case, {latency_ms:.0f} ms latency")
            for case in cases:
                server_start = cpu_seconds_of(process.pid)
                result = asyncio.run(run_case(case, url, arguments.calls, ledger))
                server_share = (
                    cpu_seconds_of(process.pid) - server_start
                ) / result.seconds
                line = report_line(case.name, result, bound(case, arguments.latency))
                print(f"{line}  server {server_share:4.0%} of a core")
            ledger.close()

        sequential = run_sequential(url, arguments.sequential_calls)
        limit = 1 / arguments.latency
        print(report_line("sequential, one at a time", sequential, limit))
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()
