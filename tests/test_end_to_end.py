"""End-to-end tests: the pipeline as a process against the sandbox as a real server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import (
    ROOT,
    results_rows,
    run_pipeline,
    sandbox_calls,
    start_sandbox,
    write_config,
)

from pipeline import sandbox

LEADS_CSV = """\
Record ID,First Name,Last Name,Phone,Country,Company
1,Ada,Lovelace,(201) 555-0123,US,Analytical Engines
2,Alan,Turing,020 7946 0456,GB,
3,Grace,Hopper,+1 555 0100,US,Navy
4,Edsger,Dijkstra,201.555.0124,,Eindhoven Ltd
5,Ada,Again,+1 201 555 0123,US,Analytical Engines
6,,Nameless,201-555-0125,US,Nobody Inc
7,Barbara,Liskov,0044 20 7946 0789,GB,=HYPERLINK("x")
"""

# (source row, E.164 number, callData) of every lead that must be called once.
EXPECTED_CALLS = {
    (
        "+12015550123",
        json.dumps(
            {"campaign": "Winter", "firstName": "Ada", "company": "Analytical Engines"},
            sort_keys=True,
        ),
    ),
    (
        "+442079460456",
        json.dumps(
            {"campaign": "Winter", "firstName": "Alan", "company": "your company"},
            sort_keys=True,
        ),
    ),
    (
        "+12015550124",
        json.dumps(
            {"campaign": "Winter", "firstName": "Edsger", "company": "Eindhoven Ltd"},
            sort_keys=True,
        ),
    ),
    (
        "+442079460789",
        json.dumps(
            {
                "campaign": "Winter",
                "firstName": "Barbara",
                "company": '=HYPERLINK("x")',
            },
            sort_keys=True,
        ),
    ),
}


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    """Start `python -m pipeline sandbox --port 0` and yield its base URL."""
    with start_sandbox() as url:
        yield url


def test_each_valid_lead_called_once(tmp_path: Path, sandbox_url: str) -> None:
    """Each valid lead reaches the real server once, with its E.164 and callData."""
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV, encoding="utf-8")
    config = write_config(tmp_path, sandbox_url, leads, sandbox.DEMO_OUTBOUND_ID)

    finished = run_pipeline(config)

    assert finished.returncode == 0, finished.stderr
    calls = sandbox_calls(sandbox_url)
    seen = Counter(
        (call["to"], json.dumps(call["callData"], sort_keys=True)) for call in calls
    )
    assert set(seen) == EXPECTED_CALLS
    assert set(seen.values()) == {1}


def test_results_match_server_calls(tmp_path: Path, sandbox_url: str) -> None:
    """The workbook has every input row once, and its request ids are the server's."""
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV, encoding="utf-8")
    config = write_config(tmp_path, sandbox_url, leads, sandbox.DEMO_OUTBOUND_ID)

    run_pipeline(config)

    rows = results_rows(tmp_path / "results.xlsx")
    assert [row["source_row"] for row in rows] == [2, 3, 4, 5, 6, 7, 8]
    statuses = {row["Record ID"]: row["status"] for row in rows}
    assert statuses == {
        "1": "called",
        "2": "called",
        "3": "rejected",
        "4": "called",
        "5": "skipped",
        "6": "rejected",
        "7": "called",
    }
    server_ids = {call["id"] for call in sandbox_calls(sandbox_url)}
    workbook_ids = {row["request_id"] for row in rows if row["status"] == "called"}
    assert workbook_ids == server_ids


def test_sample_data_called_once(tmp_path: Path, sandbox_url: str) -> None:
    """The sample export's called rows match the server's calls one to one."""
    config = write_config(
        tmp_path,
        sandbox_url,
        ROOT / "sample_data" / "leads.csv",
        sandbox.DEMO_OUTBOUND_ID,
    )
    text = config.read_text(encoding="utf-8")
    text = text.replace('column = "Phone"', 'column = "Phone Number"')
    text = text.replace(
        'country_column = "Country"', 'country_column = "Country/Region"'
    )
    text = text.replace('column = "Company"', 'column = "Company Name"')
    config.write_text(text, encoding="utf-8")

    finished = run_pipeline(config)

    assert finished.returncode == 0, finished.stderr
    rows = results_rows(tmp_path / "results.xlsx")
    called = Counter(row["phone_e164"] for row in rows if row["status"] == "called")
    server = Counter(call["to"] for call in sandbox_calls(sandbox_url))
    assert server == called
    assert set(server.values()) == {1}
    assert len(rows) == 200


def test_wrong_secret_stops_run(tmp_path: Path, sandbox_url: str) -> None:
    """A wrong secret stops the run with exit code 3 and a message, calling nobody."""
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV, encoding="utf-8")
    config = write_config(tmp_path, sandbox_url, leads, sandbox.DEMO_OUTBOUND_ID)

    finished = run_pipeline(config, NLPEARL_SECRET_KEY="wrong-secret")

    assert finished.returncode == 3
    assert "credentials were not accepted" in finished.stderr
    assert "wrong-secret" not in finished.stderr
    assert sandbox_calls(sandbox_url) == []


def test_unknown_outbound_stops_run(tmp_path: Path, sandbox_url: str) -> None:
    """An unknown outbound id stops the run with exit code 3, naming the id."""
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV, encoding="utf-8")
    config = write_config(tmp_path, sandbox_url, leads, "0123456789abcdef01234567")

    finished = run_pipeline(config)

    assert finished.returncode == 3
    assert "0123456789abcdef01234567" in finished.stderr
    rows = results_rows(tmp_path / "results.xlsx")
    assert len(rows) == 7


def test_logs_mask_phone_numbers(tmp_path: Path, sandbox_url: str) -> None:
    """No log line of a verbose run shows a full phone number."""
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV, encoding="utf-8")
    config = write_config(tmp_path, sandbox_url, leads, sandbox.DEMO_OUTBOUND_ID)

    finished = run_pipeline(config, "--verbose")

    for number, _ in EXPECTED_CALLS:
        assert number not in finished.stderr
    assert "+1201555****" in finished.stderr
