"""Tests of the command line: exit codes, messages and the in-process sandbox run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
import stamina
from click.testing import CliRunner, Result

from pipeline import calling, sandbox
from pipeline.cli import cli
from pipeline.config import Config, Credentials
from pipeline.exit_codes import ExitCode
from pipeline.ledger import ledger_lock

CSV = """\
Name,Phone,Country
Ada,(201) 555-0123,US
Alan,020 7946 0456,GB
Grace,+1 555 0100,US
"""


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test without NLPearl credentials in the environment."""
    monkeypatch.delenv("NLPEARL_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("NLPEARL_SECRET_KEY", raising=False)


def write_config(folder: Path, nlpearl: str = "sandbox = true") -> Path:
    """Write a lead file and a config for it into `folder`."""
    (folder / "leads.csv").write_text(CSV, encoding="utf-8")
    config = folder / "run.toml"
    config.write_text(
        f"""
[input]
path = "leads.csv"

[phone]
column = "Phone"
default_country = "US"
country_column = "Country"

[call_data]
firstName = "Name"

[nlpearl]
outbound_id = "6650f0c2a1b2c3d4e5f60718"
{nlpearl}

[output]
path = "out/results.xlsx"
""",
        encoding="utf-8",
    )

    return config


def invoke(*arguments: str) -> Result:
    """Run the CLI in-process and return its result."""
    return CliRunner().invoke(cli, list(arguments))


def statuses(path: Path) -> list[str]:
    """Return the status column of a results workbook."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook["Results"].iter_rows(values_only=True))
    workbook.close()
    column = rows[0].index("status")

    return [row[column] for row in rows[1:]]


def test_sandbox_run_exits_zero(tmp_path: Path) -> None:
    """A run against the in-process sandbox calls the valid rows and exits 0."""
    config = write_config(tmp_path)

    result = invoke("run", str(config))

    assert result.exit_code == ExitCode.OK, result.output
    assert statuses(tmp_path / "out" / "results.xlsx") == [
        "called",
        "called",
        "rejected",
    ]
    assert "3 rows (2 called, 1 rejected)" in result.stderr


def test_dry_run_calls_nobody(tmp_path: Path) -> None:
    """--dry-run marks valid rows dry_run and exits 0."""
    config = write_config(tmp_path)

    result = invoke("run", str(config), "--dry-run")

    assert result.exit_code == ExitCode.OK
    assert statuses(tmp_path / "out" / "results.xlsx") == [
        "dry_run",
        "dry_run",
        "rejected",
    ]


def test_output_option_overrides_config(tmp_path: Path) -> None:
    """--output writes the workbook at the path it names."""
    config = write_config(tmp_path)
    output = tmp_path / "elsewhere.xlsx"

    result = invoke("run", str(config), "--output", str(output), "--dry-run")

    assert result.exit_code == ExitCode.OK
    assert output.exists()
    assert not (tmp_path / "out" / "results.xlsx").exists()


def test_input_option_overrides_config(tmp_path: Path) -> None:
    """--input reads another lead file than the config's."""
    config = write_config(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("Name,Phone,Country\nBea,201 555 0150,US\n", encoding="utf-8")

    result = invoke("run", str(config), "--input", str(other), "--dry-run")

    assert result.exit_code == ExitCode.OK
    assert statuses(tmp_path / "out" / "results.xlsx") == ["dry_run"]


def test_config_error_exit_code(tmp_path: Path) -> None:
    """An invalid config exits 2 with a message naming the file and the key."""
    config = write_config(tmp_path, nlpearl="sandbox = true\nconcurrency = 0")

    result = invoke("run", str(config))

    assert result.exit_code == ExitCode.USAGE
    assert str(config) in result.stderr
    assert "'nlpearl.concurrency'" in result.stderr


def test_missing_config_exit_code(tmp_path: Path) -> None:
    """A config path that does not exist exits 2 and names the path."""
    result = invoke("run", str(tmp_path / "nope.toml"))

    assert result.exit_code == ExitCode.USAGE
    assert "nope.toml: config file not found" in result.stderr


def test_missing_input_exit_code(tmp_path: Path) -> None:
    """A lead file that does not exist exits 2, names it and writes nothing."""
    config = write_config(tmp_path)
    (tmp_path / "leads.csv").unlink()

    result = invoke("run", str(config))

    assert result.exit_code == ExitCode.USAGE
    assert "leads.csv" in result.stderr
    assert not (tmp_path / "out" / "results.xlsx").exists()


def test_missing_credentials_exit_code(tmp_path: Path) -> None:
    """A live run without credentials exits 2 naming both variables."""
    config = write_config(tmp_path, nlpearl='base_url = "http://127.0.0.1:9"')

    result = invoke("run", str(config))

    assert result.exit_code == ExitCode.USAGE
    assert "NLPEARL_ACCOUNT_ID and NLPEARL_SECRET_KEY" in result.stderr


def test_output_same_as_input(tmp_path: Path) -> None:
    """An output path equal to the input file exits 2 instead of overwriting it."""
    config = write_config(tmp_path)

    result = invoke("run", str(config), "--output", str(tmp_path / "leads.csv"))

    assert result.exit_code == ExitCode.USAGE
    assert "is the input file" in result.stderr
    assert (tmp_path / "leads.csv").read_text(encoding="utf-8") == CSV


def use_sandbox(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> None:
    """Make runs call an in-process sandbox with these settings."""

    def transport(config: Config, credentials: Credentials) -> httpx.AsyncBaseTransport:
        return sandbox.Sandbox(sandbox.SandboxSettings(**settings)).transport()

    monkeypatch.setattr(calling, "_sandbox_transport", transport)


def test_wrong_secret_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials the API rejects stop the run with exit code 3."""
    config = write_config(tmp_path)
    use_sandbox(monkeypatch, secret_key="other-secret")

    result = invoke("run", str(config))

    assert result.exit_code == ExitCode.STOPPED
    assert "credentials were not accepted" in result.stderr
    assert statuses(tmp_path / "out" / "results.xlsx") == [
        "skipped",
        "skipped",
        "rejected",
    ]


def test_failed_calls_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Calls that fail after every retry give exit code 1 and failed rows."""
    config = write_config(tmp_path)
    use_sandbox(monkeypatch, error_rates={500: 1.0})

    with stamina.set_testing(True, attempts=2):
        result = invoke("run", str(config))

    assert result.exit_code == ExitCode.CALLS_FAILED
    assert statuses(tmp_path / "out" / "results.xlsx") == [
        "failed",
        "failed",
        "rejected",
    ]


def test_help_lists_exit_codes() -> None:
    """`run --help` documents every exit code."""
    result = invoke("run", "--help")

    assert result.exit_code == 0
    assert "0  every row was handled" in result.output
    assert "1  some calls failed or have an unknown outcome" in result.output
    assert "2  bad command line, config or input file" in result.output
    assert "3  calls cannot succeed: credentials, outbound id" in result.output
    assert "4  another run holds the ledger" in result.output
    assert "5  unexpected error" in result.output
    assert "6  a guard held back calls" in result.output


def test_sandbox_help() -> None:
    """`sandbox --help` documents the port option."""
    result = invoke("sandbox", "--help")

    assert result.exit_code == 0
    assert "--port" in result.output


def test_headers_match_loosely(tmp_path: Path) -> None:
    """Headers that differ from the config in case and spaces still map."""
    config = write_config(tmp_path)
    loose = CSV.replace("Name,Phone,Country", " name , PHONE ,country")
    (tmp_path / "leads.csv").write_text(loose, encoding="utf-8")

    result = invoke("run", str(config), "--dry-run")

    assert result.exit_code == ExitCode.OK, result.stderr
    assert statuses(tmp_path / "out" / "results.xlsx") == [
        "dry_run",
        "dry_run",
        "rejected",
    ]


def test_credentials_checked_before_loading(tmp_path: Path) -> None:
    """A live run without credentials fails on them before reading the leads."""
    config = write_config(tmp_path, nlpearl='base_url = "http://127.0.0.1:9"')
    (tmp_path / "leads.csv").unlink()

    result = invoke("run", str(config))

    assert result.exit_code == ExitCode.USAGE
    assert "NLPEARL_ACCOUNT_ID and NLPEARL_SECRET_KEY are not set" in result.stderr


def test_dry_run_respects_lock(tmp_path: Path) -> None:
    """A dry run while another run holds the ledger exits 4 and writes nothing."""
    config = write_config(tmp_path)
    ledger = tmp_path / "out" / "nlpearl-ledger.sqlite"

    with ledger_lock(ledger):
        result = invoke("run", str(config), "--dry-run")

    assert result.exit_code == ExitCode.LOCKED
    assert "another run is using the ledger" in result.stderr
    assert not (tmp_path / "out" / "results.xlsx").exists()


def test_error_lines_carry_run_id(tmp_path: Path) -> None:
    """The error line of a failed run names the run id, like every other line."""
    result = invoke("run", str(tmp_path / "nope.toml"))

    error_line = result.stderr.strip().splitlines()[-1]
    assert " run=-" not in error_line
    assert re.search(r" run=\d{8}T\d{6}Z-[0-9a-f]{6} ", error_line)


def test_run_limit_skips_the_rest(tmp_path: Path) -> None:
    """Leads over max_calls_per_run are skipped as run_limit and the run exits 6."""
    config = write_config(tmp_path, nlpearl="sandbox = true\nmax_calls_per_run = 1")

    result = invoke("run", str(config))

    assert result.exit_code == ExitCode.GUARD, result.stderr
    assert statuses(tmp_path / "out" / "results.xlsx") == [
        "called",
        "skipped",
        "rejected",
    ]
    assert "leads held back by run_limit: 1;" in result.stderr


def test_output_folder_fails_before_calls(tmp_path: Path) -> None:
    """An output path that is a folder stops the run before any call."""
    config = write_config(tmp_path)
    (tmp_path / "folder.xlsx").mkdir()

    result = invoke("run", str(config), "--output", str(tmp_path / "folder.xlsx"))

    assert result.exit_code == ExitCode.USAGE
    assert "the output path is a folder" in result.stderr
    assert not (tmp_path / "out" / "nlpearl-ledger.sqlite").exists()


def test_output_must_be_xlsx(tmp_path: Path) -> None:
    """--output with another extension is refused before any work."""
    config = write_config(tmp_path)

    result = invoke("run", str(config), "--output", str(tmp_path / "out.csv"))

    assert result.exit_code == ExitCode.USAGE
    assert "must end in .xlsx" in result.stderr
