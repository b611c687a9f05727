"""Run configuration: a TOML file, validated, with paths resolved against its folder.

Credentials are not part of the config. `credentials_from_environment` reads
them from the environment variables `NLPEARL_ACCOUNT_ID` and `NLPEARL_SECRET_KEY`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline.errors import ConfigError
from pipeline.sandbox.model import SERVER_ERROR_STATUSES
from pipeline.window import CallingWindow

ACCOUNT_ID_VARIABLE = "NLPEARL_ACCOUNT_ID"
SECRET_KEY_VARIABLE = "NLPEARL_SECRET_KEY"

# The ledger's file name when the config does not set ledger.path; it sits in
# the output folder, so every run that writes there shares it.
DEFAULT_LEDGER_NAME = "nlpearl-ledger.sqlite"

NonEmpty = Annotated[str, Field(min_length=1)]

# TOML has real booleans and numbers, so a quoted "yes" or "4" is a mistake.
Flag = Annotated[bool, Strict()]
Whole = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Share = Annotated[float, Strict(), Field(ge=0, le=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSettings(_Section):
    """The lead file and the columns every row must fill."""

    path: Path
    sheet: str | None = None
    required_columns: tuple[NonEmpty, ...] = ()
    id_column: NonEmpty | None = None


class PhoneSettings(_Section):
    """The phone column and the regions used to read national numbers."""

    column: NonEmpty
    default_country: NonEmpty
    country_column: NonEmpty | None = None

    @field_validator("default_country")
    @classmethod
    def _check_region(cls, value: str) -> str:
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"{value!r} is not an ISO 3166 region code that phonenumbers "
                "knows, such as US or GB"
            )

        return value


class CallVariable(_Section):
    """One NLPearl variable: taken from a column, or a constant value."""

    column: NonEmpty | None = None
    value: str | None = None
    default: str | None = None
    required: Flag = False

    @model_validator(mode="after")
    def _check_source(self) -> CallVariable:
        if (self.column is None) == (self.value is None):
            raise ValueError("set exactly one of 'column' or 'value'")
        if self.value is not None and (self.default is not None or self.required):
            raise ValueError("'default' and 'required' apply only to a 'column'")

        return self


class NLPearlSettings(_Section):
    """The outbound campaign, the API to call and how hard to call it."""

    outbound_id: NonEmpty
    base_url: NonEmpty | None = None
    sandbox: Flag = False
    concurrency: Whole = Field(default=4, ge=1, le=100)
    timeout_seconds: Number = Field(default=15.0, gt=0)
    max_attempts: Whole = Field(default=4, ge=1, le=20)
    max_retry_seconds: Number = Field(default=120.0, gt=0)
    calls_per_second: Number | None = Field(default=None, gt=0)
    max_calls_per_run: Whole | None = Field(default=None, ge=0)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} must start with https:// or http://")

        return value

    @model_validator(mode="after")
    def _check_target(self) -> NLPearlSettings:
        if not self.sandbox and self.base_url is None:
            raise ValueError(
                "set base_url (the real API is https://api.nlpearl.ai) "
                "or sandbox = true"
            )

        return self


class OutputSettings(_Section):
    """The results workbook's path."""

    path: Path

    @field_validator("path")
    @classmethod
    def _check_suffix(cls, value: Path) -> Path:
        if value.suffix.lower() != ".xlsx":
            raise ValueError(f"'{value}' must end in .xlsx, the format written")

        return value


class LedgerSettings(_Section):
    """The run ledger's path and the cool-down after a call."""

    path: Path | None = None
    cooldown_days: Number = Field(default=30.0, ge=0)


class SandboxKnobs(_Section):
    """Agent queue and injected faults of the in-process sandbox.

    The keys are the `pipeline.sandbox.SandboxSettings` fields of the same names. They
    apply only when `nlpearl.sandbox = true`, and other runs ignore them.
    """

    agents: Whole = Field(default=3, ge=1)
    call_seconds: Number = Field(default=60.0, gt=0)
    latency_seconds: Number = Field(default=0.0, ge=0)
    rate_limit_per_second: Number | None = Field(default=None, gt=0)
    error_rates: dict[int, Share] = {}
    drop_before_record_rate: Share = 0.0
    drop_after_record_rate: Share = 0.0
    timeout_after_record_rate: Share = 0.0
    connect_error_rate: Share = 0.0
    seed: Whole | None = None

    @field_validator("error_rates", mode="before")
    @classmethod
    def _check_status_keys(cls, value: Any) -> Any:
        # TOML keys are text, and pydantic would also read "503.0" or " 503" as 503.
        if isinstance(value, dict):
            for key in value:
                if not _is_status_text(key):
                    raise ValueError(f"key {key!r} is not an HTTP status such as 503")

        return value

    @field_validator("error_rates")
    @classmethod
    def _check_statuses(cls, value: dict[int, float]) -> dict[int, float]:
        for status in value:
            if status not in SERVER_ERROR_STATUSES:
                raise ValueError(f"{status} is not a server error status (500 to 599)")

        return value

    @model_validator(mode="after")
    def _check_sums(self) -> SandboxKnobs:
        if sum(self.error_rates.values()) > 1:
            raise ValueError("the shares in error_rates add up to more than 1")
        if self.drop_after_record_rate + self.timeout_after_record_rate > 1:
            raise ValueError(
                "drop_after_record_rate and timeout_after_record_rate add up to "
                "more than 1"
            )

        return self


def _is_status_text(key: object) -> bool:
    """Return whether a key is an int or a text of ASCII digits only."""
    if isinstance(key, str):
        return key.isascii() and key.isdigit()

    return isinstance(key, int) and not isinstance(key, bool)


class CallingWindowSettings(_Section):
    """Local hours and weekdays in which leads may be called."""

    hours: NonEmpty = "09:00-20:00"
    days: tuple[NonEmpty, ...] = ("mon", "tue", "wed", "thu", "fri", "sat")
    timezone_column: NonEmpty | None = None

    @model_validator(mode="after")
    def _check_window(self) -> CallingWindowSettings:
        CallingWindow.parse(self.hours, self.days)

        return self

    def window(self) -> CallingWindow:
        """Return the parsed window."""
        return CallingWindow.parse(self.hours, self.days)


class DoNotCallSettings(_Section):
    """A list of numbers never to call, and number prefixes never to call."""

    path: Path | None = None
    sheet: str | None = None
    column: NonEmpty = "Phone"
    country_column: NonEmpty | None = None
    default_country: NonEmpty | None = None
    prefixes: tuple[NonEmpty, ...] = ()

    @field_validator("prefixes")
    @classmethod
    def _check_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not prefix.startswith("+") or not prefix[1:].replace(" ", "").isdigit():
                raise ValueError(
                    f"prefix {prefix!r} must be a + and digits, such as +1900"
                )

        return value


class GuardSettings(_Section):
    """Limits that stop or hold back calls on a night that looks wrong."""

    max_calls_per_day: Whole | None = Field(default=None, ge=0)
    max_rejected_share: Number | None = Field(default=None, ge=0, le=1)
    canary_calls: Whole | None = Field(default=None, ge=1)


class Config(_Section):
    """A whole run configuration, as read from one TOML file."""

    input: InputSettings
    phone: PhoneSettings
    call_data: dict[NonEmpty, CallVariable] = {}
    nlpearl: NLPearlSettings
    output: OutputSettings
    ledger: LedgerSettings = LedgerSettings()
    sandbox: SandboxKnobs = SandboxKnobs()
    calling_window: CallingWindowSettings | None = None
    do_not_call: DoNotCallSettings = DoNotCallSettings()
    guards: GuardSettings = GuardSettings()

    @field_validator("call_data")
    @classmethod
    def _check_variable_ids(
        cls, value: dict[str, CallVariable]
    ) -> dict[str, CallVariable]:
        # NLPearl does not document which characters a variable id may have.
        # Ids made from display names have no white space, so spaces are a typo.
        for key in value:
            if any(character.isspace() for character in key):
                raise ValueError(
                    f"variable id {key!r} contains white space; use the Id shown "
                    "in the Pearl's variables, such as firstName"
                )

        return value

    @model_validator(mode="before")
    @classmethod
    def _expand_short_variables(cls, data: Any) -> Any:
        """Accept `firstName = "First Name"` as short for `{column = "First Name"}`."""
        if isinstance(data, dict) and isinstance(data.get("call_data"), dict):
            data = dict(data)
            data["call_data"] = {
                key: {"column": value} if isinstance(value, str) else value
                for key, value in data["call_data"].items()
            }

        return data

    def ledger_path(self) -> Path:
        """Return the ledger's path: `ledger.path`, else a file beside the output."""
        return self.ledger.path or self.output.path.parent / DEFAULT_LEDGER_NAME

    def lead_columns(self) -> tuple[str, ...]:
        """Return every column the run reads, each once, phone column first."""
        names = [self.phone.column]
        if self.phone.country_column:
            names.append(self.phone.country_column)
        names += [v.column for v in self.call_data.values() if v.column]
        names += self.input.required_columns
        if self.input.id_column:
            names.append(self.input.id_column)
        if self.calling_window and self.calling_window.timezone_column:
            names.append(self.calling_window.timezone_column)

        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Credentials:
    """NLPearl account id and secret key; the repr never shows the secret."""

    account_id: str
    secret_key: str

    def __repr__(self) -> str:
        return f"Credentials(account_id={self.account_id!r}, secret_key='***')"

    def bearer_token(self) -> str:
        """Return the `Authorization` header value NLPearl expects."""
        return f"Bearer {self.account_id}:{self.secret_key}"


def load_config(path: Path) -> Config:
    """Read and validate a TOML config; relative paths are taken from its folder.

    Raises:
        ConfigError: the file is missing or unreadable, or a key is missing or
            invalid. The message names the file and every key at fault.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: config file not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from error

    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_describe_errors(path, error)) from error

    return _resolve_paths(config, path.parent)


def _describe_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: invalid config"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "missing":
            lines.append(f"  missing key '{key}'")
        elif problem["type"] == "extra_forbidden":
            lines.append(f"  unknown key '{key}'")
        else:
            message = problem["msg"].removeprefix("Value error, ")
            lines.append(f"  '{key}': {message}")

    return "\n".join(lines)


def _resolve_paths(config: Config, folder: Path) -> Config:
    input_settings = config.input.model_copy(
        update={"path": (folder / config.input.path).resolve()}
    )
    output_settings = config.output.model_copy(
        update={"path": (folder / config.output.path).resolve()}
    )

    ledger_settings = config.ledger
    if ledger_settings.path is not None:
        ledger_settings = ledger_settings.model_copy(
            update={"path": (folder / ledger_settings.path).resolve()}
        )

    do_not_call = config.do_not_call
    if do_not_call.path is not None:
        do_not_call = do_not_call.model_copy(
            update={"path": (folder / do_not_call.path).resolve()}
        )

    return config.model_copy(
        update={
            "input": input_settings,
            "output": output_settings,
            "ledger": ledger_settings,
            "do_not_call": do_not_call,
        }
    )


def credentials_from_environment(
    *, sandbox_fallback: Credentials | None
) -> Credentials:
    """Read the NLPearl credentials from the environment.

    Args:
        sandbox_fallback: used when both variables are unset, for runs against
            the sandbox; None means the variables are required.

    Raises:
        ConfigError: a variable is missing or empty and there is no fallback.
    """
    account_id = os.environ.get(ACCOUNT_ID_VARIABLE, "").strip()
    secret_key = os.environ.get(SECRET_KEY_VARIABLE, "").strip()
    if account_id and secret_key:
        return Credentials(account_id, secret_key)
    if sandbox_fallback is not None and not account_id and not secret_key:
        return sandbox_fallback

    missing = [
        name
        for name, value in (
            (ACCOUNT_ID_VARIABLE, account_id),
            (SECRET_KEY_VARIABLE, secret_key),
        )
        if not value
    ]
    names = " and ".join(missing)
    subject = "variable" if len(missing) == 1 else "variables"
    verb = "is" if len(missing) == 1 else "are"
    raise ConfigError(
        f"environment {subject} {names} {verb} not set; "
        "export the NLPearl account id and secret key before the run"
    )
