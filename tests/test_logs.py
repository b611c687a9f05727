"""Tests of log masking and of the handler that `configure_logging` installs."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.config import SECRET_KEY_VARIABLE
from pipeline.logs import configure_logging, mask_text, run_id_context

SECRET = "test-secret-5f2a9c"

logger = logging.getLogger("pipeline.tests")


@contextlib.contextmanager
def configured_logging(**options: Any) -> Iterator[None]:
    """Run `configure_logging`, then restore the root handlers and levels it replaced.

    pytest keeps its own capture handlers on the root logger while a test runs,
    and `configure_logging` removes them, so they are put back on leaving.
    """
    root = logging.getLogger()
    package = logging.getLogger("pipeline")
    handlers, root_level, package_level = root.handlers[:], root.level, package.level
    configure_logging(**options)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        package.setLevel(package_level)


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the secret key variable for every test of this module."""
    monkeypatch.setenv(SECRET_KEY_VARIABLE, SECRET)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+12015550123", "+1201555****"),
        ("calling +12015550123 now", "calling +1201555**** now"),
        ("+1 201-555-0123", "+1 201-555-****"),
        ("+1 201 555 0123", "+1 201 555 ****"),
        ("+1.201.555.0123", "+1.201.555.****"),
        ("+1 (201) 555-0123", "+1 (201) 555-****"),
        ("+44 20 7946 0000", "+44 20 7946 ****"),
        ("+44 (0)20 7946 0999", "+44 (0)20 7946 ****"),
        ("to=+12015550123,", "to=+1201555****,"),
        ("+12015550123 (3 attempts)", "+1201555**** (3 attempts)"),
        (
            "+12015550100 and +442079460000",
            "+1201555**** and +44207946****",
        ),
    ],
)
def test_mask_text_masks_numbers(text: str, expected: str) -> None:
    """Phone numbers in E.164 form, with or without separators, are masked."""
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-02 03:04:05",
        "2026-01-02T03:04:05+0000",
        "run 20260102T030405Z-a1b2c3 finished",
        "+1201555****",
        "+1 201-555-****",
        "+1 (201) 555-****",
        "+44 20 7946 ****",
        "queue position 12015550123",
        "+123456",
    ],
)
def test_mask_text_leaves_other_text(text: str) -> None:
    """Dates, run ids, masked numbers and numbers without a plus stay unchanged."""
    assert mask_text(text) == text


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
def test_log_line_hides_number_and_secret(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    """A log line shows neither a full phone number nor the secret key."""
    with configured_logging(json_lines=json_lines):
        logger.warning("calling %s with %s", "+1 (201) 555-0123", SECRET)
        logging.getLogger("httpx").warning("POST to +12015550123 key=%s", SECRET)

    output = capsys.readouterr().err
    assert "555-0123" not in output
    assert "+12015550123" not in output
    assert SECRET not in output
    assert "+1 (201) 555-****" in output
    assert "+1201555****" in output


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
def test_traceback_hides_number_and_secret(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    """A logged traceback shows neither a full phone number nor the secret key."""
    with configured_logging(json_lines=json_lines):
        try:
            raise RuntimeError(f"call to +12015550123 failed with key {SECRET}")
        except RuntimeError:
            logger.exception("call failed")

    output = capsys.readouterr().err
    assert "RuntimeError" in output
    assert "+12015550123" not in output
    assert SECRET not in output
    assert "+1201555****" in output


def test_text_line_has_run_id(capsys: pytest.CaptureFixture[str]) -> None:
    """A text log line carries the run id of the block it was written in."""
    with configured_logging(), run_id_context("20260102T030405Z-a1b2c3"):
        logger.info("validated 3 rows")

    output = capsys.readouterr().err
    assert " INFO run=20260102T030405Z-a1b2c3 validated 3 rows" in output


def test_json_lines_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON format writes one valid JSON object a line, each with the run id."""
    with configured_logging(json_lines=True), run_id_context("run-1"):
        logger.info("calling %d leads", 2)
        logger.warning("retrying %s", "+12015550123")

    lines = capsys.readouterr().err.splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == 2
    assert [entry["run_id"] for entry in entries] == ["run-1", "run-1"]
    assert [entry["level"] for entry in entries] == ["INFO", "WARNING"]
    assert entries[0]["message"] == "calling 2 leads"
    assert entries[1]["message"] == "retrying +1201555****"
    assert entries[1]["logger"] == "pipeline.tests"


def test_run_id_outside_block(capsys: pytest.CaptureFixture[str]) -> None:
    """A line written outside any run shows `-` as its run id."""
    with configured_logging(json_lines=True):
        logger.info("starting")

    entry = json.loads(capsys.readouterr().err)
    assert entry["run_id"] == "-"


@pytest.mark.parametrize(("verbose", "shown"), [(False, False), (True, True)])
def test_verbose_shows_debug(
    capsys: pytest.CaptureFixture[str], verbose: bool, shown: bool
) -> None:
    """Debug lines of the package appear only when verbose."""
    with configured_logging(verbose=verbose):
        logger.debug("request details")

    assert ("request details" in capsys.readouterr().err) is shown


def test_other_libraries_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    """Other libraries log at warning and above only."""
    with configured_logging(verbose=True):
        logging.getLogger("httpx").info("HTTP request sent")
        logging.getLogger("httpx").warning("HTTP request failed")

    output = capsys.readouterr().err
    assert "HTTP request sent" not in output
    assert "HTTP request failed" in output


def test_mismatched_arguments_logged(capsys: pytest.CaptureFixture[str]) -> None:
    """A log call whose arguments do not fit its format is written, not raised."""
    with configured_logging():
        logger.warning("retry %d of %s", "second", "+12015550123")

    output = capsys.readouterr().err
    assert "'retry %d of %s' % ('second', '+1201555****') failed:" in output
    assert "+12015550123" not in output


def test_padded_secret_still_hidden(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret exported with surrounding white space is hidden as it is used."""
    monkeypatch.setenv(SECRET_KEY_VARIABLE, f"  {SECRET}\n")

    with configured_logging():
        logger.warning("Authorization: Bearer account-1:%s", SECRET)

    output = capsys.readouterr().err
    assert SECRET not in output
    assert "Bearer account-1:***" in output
