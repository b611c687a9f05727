"""Tests of the TOML config, its error messages and the credentials."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config import (
    ACCOUNT_ID_VARIABLE,
    SECRET_KEY_VARIABLE,
    CallVariable,
    Config,
    Credentials,
    SandboxKnobs,
    credentials_from_environment,
    load_config,
)
from pipeline.errors import ConfigError
from pipeline.sandbox import SandboxSettings

VALID_TOML = """\
[input]
path = "leads.csv"

[phone]
column = "Phone"
default_country = "US"

[nlpearl]
outbound_id = "outbound-test"
sandbox = true

[output]
path = "out/results.xlsx"
"""

FALLBACK = Credentials("sandbox-account", "sandbox-secret")


def write_config(folder: Path, text: str) -> Path:
    """Write `text` as `config.toml` in `folder` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")

    return path


def edited(old: str, new: str) -> str:
    """Return VALID_TOML with `old` replaced, raising ValueError if `old` is absent."""
    if old not in VALID_TOML:
        raise ValueError(f"{old!r} is not in VALID_TOML")

    return VALID_TOML.replace(old, new)


def test_load_config_valid_file(tmp_path: Path) -> None:
    """A complete file loads, with defaults for the keys it leaves out."""
    config = load_config(write_config(tmp_path, VALID_TOML))

    assert config.phone.column == "Phone"
    assert config.phone.default_country == "US"
    assert config.phone.country_column is None
    assert config.nlpearl.outbound_id == "outbound-test"
    assert config.nlpearl.sandbox is True
    assert config.nlpearl.concurrency == 4
    assert config.call_data == {}


def test_relative_paths_use_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative input, output and ledger paths resolve against the config's folder."""
    text = edited('path = "leads.csv"', 'path = "../data/leads.csv"')
    text += '\n[ledger]\npath = "state/ledger.sqlite"\n'
    path = write_config(tmp_path / "settings", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(path)

    folder = (tmp_path / "settings").resolve()
    assert config.input.path == folder.parent / "data" / "leads.csv"
    assert config.output.path == folder / "out" / "results.xlsx"
    assert config.ledger_path() == folder / "state" / "ledger.sqlite"


def test_ledger_beside_output_by_default(tmp_path: Path) -> None:
    """Without a ledger path the ledger sits in the output folder."""
    config = load_config(write_config(tmp_path, VALID_TOML))

    expected = tmp_path.resolve() / "out" / "nlpearl-ledger.sqlite"
    assert config.ledger_path() == expected
    assert config.ledger.cooldown_days == 30.0


def test_absolute_paths_stay_unchanged(tmp_path: Path) -> None:
    """An absolute input path is used as written, not joined to the folder."""
    leads = tmp_path.resolve() / "exports" / "leads.csv"
    text = edited('path = "leads.csv"', f"path = '{leads}'")

    config = load_config(write_config(tmp_path / "settings", text))

    assert config.input.path == leads


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'column = "Phone"\n',
            "",
            "  missing key 'phone.column'",
            id="missing-key",
        ),
        pytest.param(
            "sandbox = true",
            "sandbox = true\nconcurency = 8",
            "  unknown key 'nlpearl.concurency'",
            id="unknown-key",
        ),
        pytest.param(
            "sandbox = true",
            'sandbox = "yes"',
            "  'nlpearl.sandbox': Input should be a valid boolean",
            id="quoted-boolean",
        ),
        pytest.param(
            "sandbox = true",
            'sandbox = true\nconcurrency = "4"',
            "  'nlpearl.concurrency': Input should be a valid integer",
            id="quoted-number",
        ),
        pytest.param(
            'path = "out/results.xlsx"',
            'path = "out/results.csv"',
            "  'output.path': 'out/results.csv' must end in .xlsx",
            id="output-not-xlsx",
        ),
        pytest.param(
            "[output]",
            '[call_data]\n"first name" = "Name"\n\n[output]',
            "  'call_data': variable id 'first name' contains white space",
            id="variable-id-with-space",
        ),
        pytest.param(
            "sandbox = true",
            'sandbox = true\nconcurrency = "eight"',
            "  'nlpearl.concurrency': Input should be a valid integer",
            id="wrong-type",
        ),
        pytest.param(
            "sandbox = true",
            "sandbox = true\nconcurrency = 0",
            "  'nlpearl.concurrency': Input should be greater than or equal to 1",
            id="out-of-range",
        ),
        pytest.param(
            'default_country = "US"',
            'default_country = "XX"',
            "  'phone.default_country': 'XX' is not an ISO 3166 region code",
            id="bad-default-country",
        ),
        pytest.param(
            "[output]",
            '[call_data]\nfirstName = { column = "First", value = "Ann" }\n\n[output]',
            "  'call_data.firstName': set exactly one of 'column' or 'value'",
            id="column-and-value",
        ),
        pytest.param(
            "[output]",
            '[call_data]\nfirstName = { default = "Ann" }\n\n[output]',
            "  'call_data.firstName': set exactly one of 'column' or 'value'",
            id="neither-column-nor-value",
        ),
        pytest.param(
            "[output]",
            '[call_data]\ncampaign = { value = "Spring", required = true }\n\n[output]',
            "  'call_data.campaign': 'default' and 'required' apply only to a 'column'",
            id="required-constant",
        ),
        pytest.param(
            "[output]",
            "[ledger]\ncooldown_days = -1\n\n[output]",
            "  'ledger.cooldown_days': Input should be greater than or equal to 0",
            id="negative-cooldown",
        ),
        pytest.param(
            "sandbox = true",
            "sandbox = false",
            "  'nlpearl': set base_url (the real API is https://api.nlpearl.ai)",
            id="no-sandbox-no-base-url",
        ),
        pytest.param(
            "sandbox = true",
            'base_url = "api.nlpearl.ai"',
            "  'nlpearl.base_url': 'api.nlpearl.ai' must start with https:// or http://",
            id="base-url-without-scheme",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\nlatency = 0.5\n\n[output]",
            "  unknown key 'sandbox.latency'",
            id="sandbox-unknown-key",
        ),
        pytest.param(
            "[output]",
            '[sandbox]\nlatency_seconds = "0.5"\n\n[output]',
            "  'sandbox.latency_seconds': Input should be a valid number",
            id="sandbox-quoted-number",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\nagents = 0\n\n[output]",
            "  'sandbox.agents': Input should be greater than or equal to 1",
            id="sandbox-no-agents",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\nrate_limit_per_second = 0\n\n[output]",
            "  'sandbox.rate_limit_per_second': Input should be greater than 0",
            id="sandbox-zero-rate-limit",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\ndrop_after_record_rate = 1.5\n\n[output]",
            "  'sandbox.drop_after_record_rate': Input should be less than or equal",
            id="sandbox-share-above-one",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\nseed = 1.5\n\n[output]",
            "  'sandbox.seed': Input should be a valid integer",
            id="sandbox-fractional-seed",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\nerror_rates = { 404 = 0.1 }\n\n[output]",
            "  'sandbox.error_rates': 404 is not a server error status (500 to 599)",
            id="sandbox-client-error-status",
        ),
        pytest.param(
            "[output]",
            '[sandbox]\nerror_rates = { "503.0" = 0.1 }\n\n[output]',
            "  'sandbox.error_rates': key '503.0' is not an HTTP status such as 503",
            id="sandbox-status-not-digits",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\nerror_rates = { 503 = -0.1 }\n\n[output]",
            "  'sandbox.error_rates.503': Input should be greater than or equal to 0",
            id="sandbox-negative-error-share",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\nerror_rates = { 500 = 0.6, 503 = 0.6 }\n\n[output]",
            "  'sandbox': the shares in error_rates add up to more than 1",
            id="sandbox-error-sum-above-one",
        ),
        pytest.param(
            "[output]",
            "[sandbox]\ndrop_after_record_rate = 0.6\n"
            "timeout_after_record_rate = 0.6\n\n[output]",
            "  'sandbox': drop_after_record_rate and timeout_after_record_rate add up",
            id="sandbox-after-record-sum-above-one",
        ),
    ],
)
def test_invalid_config_names_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    """Each invalid value is reported with the file and the key at fault."""
    path = write_config(tmp_path, edited(old, new))

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: invalid config"
    assert any(line.startswith(expected) for line in lines[1:]), lines


def test_invalid_config_lists_every_key(tmp_path: Path) -> None:
    """Two missing keys are both reported, one line each."""
    text = edited('column = "Phone"\n', "").replace(
        'outbound_id = "outbound-test"\n', ""
    )
    path = write_config(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    lines = str(caught.value).splitlines()
    assert lines[1:] == [
        "  missing key 'phone.column'",
        "  missing key 'nlpearl.outbound_id'",
    ]


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    """A file that is not TOML is reported with its path and the parser's reason."""
    path = write_config(tmp_path, VALID_TOML + "\n[phone\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert str(caught.value).startswith(f"{path}: invalid TOML: ")


def test_missing_config_file(tmp_path: Path) -> None:
    """A config path that does not exist is reported as not found."""
    path = tmp_path / "absent.toml"

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert str(caught.value) == f"{path}: config file not found"


def test_short_call_variable_form(tmp_path: Path) -> None:
    """`firstName = "First Name"` is read as a variable taken from that column."""
    text = edited("[output]", '[call_data]\nfirstName = "First Name"\n\n[output]')

    config = load_config(write_config(tmp_path, text))

    assert config.call_data == {"firstName": CallVariable(column="First Name")}


def test_lead_columns_order_and_uniqueness(
    make_config: Callable[..., Config],
) -> None:
    """Lead columns start with phone and country and list each name once."""
    config = make_config(
        input={"required_columns": ["Email", "First Name"]},
        phone={"country_column": "Country"},
        call_data={
            "firstName": {"column": "First Name"},
            "campaign": {"value": "Spring"},
            "lastName": "Last Name",
            "callback": {"column": "Phone"},
        },
    )

    assert config.lead_columns() == (
        "Phone",
        "Country",
        "First Name",
        "Last Name",
        "Email",
    )


def test_lead_columns_id_column_last(make_config: Callable[..., Config]) -> None:
    """The lead id column is read too, after every other column."""
    config = make_config(
        input={"required_columns": ["Email"], "id_column": "Lead ID"},
        call_data={"firstName": "First Name"},
    )

    assert config.lead_columns() == ("Phone", "First Name", "Email", "Lead ID")


def test_credentials_from_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both variables set give those credentials, trimmed, and no fallback."""
    monkeypatch.setenv(ACCOUNT_ID_VARIABLE, " account-1 ")
    monkeypatch.setenv(SECRET_KEY_VARIABLE, "secret-1\n")

    credentials = credentials_from_environment(sandbox_fallback=FALLBACK)

    assert credentials == Credentials("account-1", "secret-1")


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        (ACCOUNT_ID_VARIABLE, SECRET_KEY_VARIABLE),
        (SECRET_KEY_VARIABLE, ACCOUNT_ID_VARIABLE),
    ],
)
@pytest.mark.parametrize("fallback", [None, FALLBACK], ids=["live", "sandbox"])
def test_credentials_one_variable_missing(
    monkeypatch: pytest.MonkeyPatch,
    present: str,
    missing: str,
    fallback: Credentials | None,
) -> None:
    """One variable alone is an error naming the other, even with a fallback."""
    monkeypatch.setenv(present, "value-1")
    monkeypatch.delenv(missing, raising=False)

    with pytest.raises(ConfigError) as caught:
        credentials_from_environment(sandbox_fallback=fallback)

    assert str(caught.value).startswith(f"environment variable {missing} is not set;")


def test_credentials_fallback_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox fallback is used when both variables are unset."""
    monkeypatch.delenv(ACCOUNT_ID_VARIABLE, raising=False)
    monkeypatch.delenv(SECRET_KEY_VARIABLE, raising=False)

    credentials = credentials_from_environment(sandbox_fallback=FALLBACK)

    assert credentials is FALLBACK


def test_credentials_blank_counts_as_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Variables set to white space count as unset, so the fallback is used."""
    monkeypatch.setenv(ACCOUNT_ID_VARIABLE, "")
    monkeypatch.setenv(SECRET_KEY_VARIABLE, "  ")

    credentials = credentials_from_environment(sandbox_fallback=FALLBACK)

    assert credentials is FALLBACK


def test_credentials_required_without_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a fallback, two unset variables are both named."""
    monkeypatch.delenv(ACCOUNT_ID_VARIABLE, raising=False)
    monkeypatch.delenv(SECRET_KEY_VARIABLE, raising=False)

    with pytest.raises(ConfigError) as caught:
        credentials_from_environment(sandbox_fallback=None)

    expected = (
        f"environment variables {ACCOUNT_ID_VARIABLE} and {SECRET_KEY_VARIABLE} are"
    )
    assert str(caught.value).startswith(expected)


def test_credentials_text_hides_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither repr nor str of Credentials shows the secret key."""
    monkeypatch.setenv(ACCOUNT_ID_VARIABLE, "account-1")
    monkeypatch.setenv(SECRET_KEY_VARIABLE, "hidden-secret-1")

    credentials = credentials_from_environment(sandbox_fallback=None)

    assert "hidden-secret-1" not in repr(credentials)
    assert "hidden-secret-1" not in str(credentials)
    assert "hidden-secret-1" not in f"{credentials}"
    assert "account-1" in repr(credentials)


SANDBOX_TABLE = """
[sandbox]
agents = 5
call_seconds = 30
latency_seconds = 0.25
rate_limit_per_second = 2.5
error_rates = { 500 = 0.1, 503 = 0.2 }
drop_before_record_rate = 0.05
drop_after_record_rate = 0.15
timeout_after_record_rate = 0.25
connect_error_rate = 0.3
seed = 7
"""


def test_sandbox_table_read(tmp_path: Path) -> None:
    """Every key of the [sandbox] table is read with its TOML type."""
    config = load_config(write_config(tmp_path, VALID_TOML + SANDBOX_TABLE))

    assert config.sandbox == SandboxKnobs(
        agents=5,
        call_seconds=30.0,
        latency_seconds=0.25,
        rate_limit_per_second=2.5,
        error_rates={500: 0.1, 503: 0.2},
        drop_before_record_rate=0.05,
        drop_after_record_rate=0.15,
        timeout_after_record_rate=0.25,
        connect_error_rate=0.3,
        seed=7,
    )


def test_sandbox_table_defaults(tmp_path: Path) -> None:
    """Without a [sandbox] table the knobs have the sandbox's own defaults."""
    config = load_config(write_config(tmp_path, VALID_TOML))

    settings = SandboxSettings(**config.sandbox.model_dump())
    assert settings == SandboxSettings()


def test_sandbox_knobs_name_settings() -> None:
    """Every [sandbox] key is a SandboxSettings field, so a run can pass them on."""
    setting_names = {field.name for field in dataclasses.fields(SandboxSettings)}

    assert set(SandboxKnobs.model_fields) <= setting_names


def test_sandbox_table_with_base_url(tmp_path: Path) -> None:
    """A [sandbox] table is valid beside a base_url, so a live config may keep it."""
    text = edited("sandbox = true", 'base_url = "https://api.nlpearl.ai"')

    config = load_config(write_config(tmp_path, text + SANDBOX_TABLE))

    assert config.nlpearl.sandbox is False
    assert config.sandbox.agents == 5
