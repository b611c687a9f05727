"""Validation stage: a pandera schema turns every bad row into a status and a reason.

The schema is declared from the config and run lazily, so one pass collects
every failure of every row. Each check's name is the reason code written to
the results; when a row fails several checks, the first in `REASON_ORDER` wins.
"""

from __future__ import annotations

import functools

import pandas as pd
import pandera.pandas as pa

from pipeline.config import Config
from pipeline.phones import parse_phone, resolve_region
from pipeline.results import Status

REGION_COLUMN = "__region"

REASON_ORDER = (
    "phone_missing",
    "country_unknown",
    "phone_unparseable",
    "phone_invalid",
    "required_missing",
)


def build_schema(config: Config) -> pa.DataFrameSchema:
    """Declare the checks every lead row must pass before it may be called."""
    phone = config.phone.column
    columns = {
        phone: pa.Column(str, pa.Check(_is_filled, name="phone_missing")),
        REGION_COLUMN: pa.Column(str, pa.Check(_is_filled, name="country_unknown")),
    }
    for name in _required_columns(config):
        # A required phone column keeps its own check, so an empty cell stays
        # phone_missing, the reason that outranks required_missing.
        if name != phone:
            columns[name] = pa.Column(
                str, pa.Check(_is_filled, name="required_missing")
            )

    phone_checks = [
        pa.Check(functools.partial(_lacks_reason, phone, code), name=code)
        for code in ("phone_unparseable", "phone_invalid")
    ]

    return pa.DataFrameSchema(columns, checks=phone_checks)


def validate_leads(frame: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Validate and normalise every lead.

    Returns:
        A frame with the index of `frame` and the columns `phone_e164`,
        `status` (pending, rejected or skipped), `reason` and `detail`.
    """
    checked = frame.assign(**{REGION_COLUMN: _regions(frame, config)})
    failures = _failures(build_schema(config), checked)

    outcome = pd.DataFrame(index=frame.index)
    outcome["phone_e164"] = _e164_numbers(checked, config.phone.column)
    outcome["status"] = Status.PENDING.value
    outcome["reason"] = ""
    outcome["detail"] = ""
    _apply_failures(outcome, checked, config, failures)
    _skip_duplicates(outcome)

    return outcome


def _is_filled(values: pd.Series) -> pd.Series:
    return values.str.strip().str.len() > 0


def _required_columns(config: Config) -> list[str]:
    names = list(config.input.required_columns)
    for variable in config.call_data.values():
        if variable.column and variable.required and variable.default is None:
            names.append(variable.column)

    return list(dict.fromkeys(names))


def _regions(frame: pd.DataFrame, config: Config) -> pd.Series:
    """Return each row's region: its country cell, else the default; '' if unknown."""
    default = config.phone.default_country.upper()
    column = config.phone.country_column
    if column is None:
        return pd.Series(default, index=frame.index, dtype=object)

    def region_of(country: str) -> str:
        if not country.strip():
            return default

        return resolve_region(country) or ""

    return frame[column].map(region_of)


def _lacks_reason(phone_column: str, code: str, frame: pd.DataFrame) -> pd.Series:
    return _phone_reason(frame, phone_column) != code


def _phone_reason(frame: pd.DataFrame, phone_column: str) -> pd.Series:
    """Return the parse failure code of each row, or '' where the phone parses.

    Rows without a phone or a region count as parsing, because their own
    checks already report them.
    """
    pairs = zip(frame[phone_column], frame[REGION_COLUMN], strict=True)
    reasons = [
        (parse_phone(raw, region).reason or "") if raw.strip() and region else ""
        for raw, region in pairs
    ]

    return pd.Series(reasons, index=frame.index, dtype=object)


def _e164_numbers(frame: pd.DataFrame, phone_column: str) -> pd.Series:
    pairs = zip(frame[phone_column], frame[REGION_COLUMN], strict=True)
    numbers = [
        (parse_phone(raw, region).e164 or "") if region else "" for raw, region in pairs
    ]

    return pd.Series(numbers, index=frame.index, dtype=object)


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """Return one row per (source row, reason, column) that failed a check."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as error:
        cases = error.failure_cases
        cases = cases[cases["check"].isin(REASON_ORDER)]

        return cases[["index", "check", "column"]].drop_duplicates(["index", "check"])

    return pd.DataFrame(columns=["index", "check", "column"])


def _apply_failures(
    outcome: pd.DataFrame, frame: pd.DataFrame, config: Config, failures: pd.DataFrame
) -> None:
    """Mark each failing row rejected with its most important reason."""
    rank = {code: position for position, code in enumerate(REASON_ORDER)}
    failures = failures.assign(rank=failures["check"].map(rank))
    first = failures.sort_values(["index", "rank"]).drop_duplicates("index")

    # Assign whole columns at once: one `.loc` write per row takes seconds when a
    # wrongly mapped file rejects every one of thousands of rows.
    rows = first["index"].tolist()
    details = [
        _detail(code, column, frame.loc[row], config)
        for row, code, column in first[["index", "check", "column"]].itertuples(
            index=False
        )
    ]
    outcome.loc[rows, "status"] = Status.REJECTED.value
    outcome.loc[rows, "reason"] = first["check"].tolist()
    outcome.loc[rows, "detail"] = details


def _detail(code: str, column: str, row: pd.Series, config: Config) -> str:
    """Describe one failure in words a user can act on."""
    phone_column = config.phone.column
    if code == "country_unknown":
        country = row[config.phone.country_column]
        return f"{country!r} in {config.phone.country_column!r} is not a known country"
    if code == "required_missing":
        return f"{column!r} is empty"
    if code == "phone_missing":
        return f"{phone_column!r} is empty"

    return parse_phone(row[phone_column], row[REGION_COLUMN]).detail


def _skip_duplicates(outcome: pd.DataFrame) -> None:
    """Skip every later row whose number an earlier valid row already has."""
    pending = outcome[outcome["status"] == Status.PENDING.value]
    first_rows = pending.groupby("phone_e164", sort=False)["phone_e164"].transform(
        lambda group: group.index[0]
    )
    duplicates = pending.index[pending.index != first_rows]

    outcome.loc[duplicates, "status"] = Status.SKIPPED.value
    outcome.loc[duplicates, "reason"] = "duplicate_phone"
    outcome.loc[duplicates, "detail"] = [
        f"same number as row {first_rows[row]}" for row in duplicates
    ]
