"""Process helpers for end-to-end tests: the sandbox server, pipeline runs, results.

Every process started here is ended by the context manager or call that started
it, and every pipe and workbook is closed, because pytest treats a resource
warning as an error.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openpyxl

from pipeline import sandbox

ROOT = Path(__file__).resolve().parent.parent

# Maximum wait in seconds for a process to reach a log line or to exit. A run of
# a few dozen leads takes a few seconds, so reaching this means it hangs.
PROCESS_TIMEOUT_SECONDS = 60


@contextlib.contextmanager
def start_sandbox(*options: str) -> Iterator[str]:
    """Start `python -m pipeline sandbox --port 0 OPTIONS` and yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "sandbox", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=environment(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("NLPearl sandbox listening on http://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def environment(**extra: str) -> dict[str, str]:
    """Return this process's environment with the sandbox's demo credentials."""
    variables = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("NLPEARL_")
    }
    variables["NLPEARL_ACCOUNT_ID"] = sandbox.DEMO_ACCOUNT_ID
    variables["NLPEARL_SECRET_KEY"] = sandbox.DEMO_SECRET_KEY

    return {**variables, **extra}


def write_config(
    folder: Path,
    base_url: str,
    leads: Path,
    outbound: str,
    *,
    concurrency: int = 3,
    nlpearl: str = "",
) -> Path:
    """Write a config that calls the server at `base_url` for the given leads.

    Args:
        nlpearl: extra TOML lines for the `[nlpearl]` section.
    """
    config = folder / "live.toml"
    config.write_text(
        f"""
[input]
path = "{leads}"

[phone]
column = "Phone"
default_country = "US"
country_column = "Country"

[call_data]
firstName = {{ column = "First Name", required = true }}
company = {{ column = "Company", default = "your company" }}
campaign = {{ value = "Winter" }}

[nlpearl]
outbound_id = "{outbound}"
base_url = "{base_url}"
concurrency = {concurrency}
{nlpearl}

[output]
path = "{folder / "results.xlsx"}"
""",
        encoding="utf-8",
    )

    return config


def run_pipeline(
    config: Path, *arguments: str, **variables: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m pipeline run CONFIG ARGUMENTS` as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "run", str(config), *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment(**variables),
        timeout=120,
    )


@contextlib.contextmanager
def start_pipeline(
    config: Path, log_path: Path, *arguments: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `python -m pipeline run CONFIG ARGUMENTS` with stderr going to `log_path`.

    The run is killed on leaving the block if it is still running. A file rather
    than a pipe takes stderr, so the test can poll it without blocking and the
    run never stalls on a full pipe.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(config), *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
            env=environment(),
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=PROCESS_TIMEOUT_SECONDS)


def wait_for_log(
    process: subprocess.Popen[bytes], log_path: Path, pattern: re.Pattern[str]
) -> None:
    """Wait until a line of the log file matches; fail if the process exits first."""
    deadline = time.monotonic() + PROCESS_TIMEOUT_SECONDS
    while True:
        # Poll before reading, so a line written just before the exit is seen.
        exited = process.poll() is not None
        log = log_path.read_text(encoding="utf-8", errors="replace")
        if pattern.search(log):
            return
        assert not exited, log
        assert time.monotonic() < deadline, f"no {pattern.pattern!r} in {log_path}"
        time.sleep(0.01)


def sandbox_calls(base_url: str) -> list[dict[str, object]]:
    """Return the calls the sandbox server accepted."""
    response = httpx.get(f"{base_url}/_sandbox/calls", timeout=5)
    response.raise_for_status()

    return response.json()


def results_rows(path: Path) -> list[dict[str, object]]:
    """Read the Results sheet as one dict per row."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook["Results"].iter_rows(values_only=True))
    workbook.close()
    header = [str(name) for name in rows[0]]

    return [dict(zip(header, row, strict=True)) for row in rows[1:]]
