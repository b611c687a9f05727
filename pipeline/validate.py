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
from pipeline.phones import ParsedPhone, parse_phones, resolve_region
from pipeline.results import Status

REGION_COLUMN = "__region"
PHONE_REASON_COLUMN = "__phone_reason"

# Checks on the phone parser's outcome, whose details are the parser's own.
PHONE_CHECKS = ("phone_digits_lost", "phone_unparseable", "phone_invalid")

REASON_ORDER = (
    "phone_missing",
    "phone_digits_lost",
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
        pa.Check(functools.partial(_lacks_reason, code), name=code)
        for code in PHONE_CHECKS
    ]

    return pa.DataFrameSchema(columns, checks=phone_checks)


def validate_leads(frame: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Validate and normalise every lead.

    Returns:
        A frame with the index of `frame` and the columns `phone_e164`,
        `status` (pending, rejected or skipped), `reason`, `detail` and
        `phone_note` (repairs, extension and other numbers of the phone cell).
    """
    regions = _regions(frame, config)
    phones = _parse_phones(frame[config.phone.column], regions)
    reasons = [phone.reason or "" for phone in phones]
    checked = frame.assign(**{REGION_COLUMN: regions, PHONE_REASON_COLUMN: reasons})
    failures = _failures(build_schema(config), checked)

    # A row without a region has no number: its country is the problem.
    has_region = (regions != "").tolist()
    outcome = pd.DataFrame(index=frame.index)
    outcome["phone_e164"] = [
        (phone.e164 or "") if known else ""
        for phone, known in zip(phones, has_region, strict=True)
    ]
    outcome["status"] = Status.PENDING.value
    outcome["reason"] = ""
    outcome["detail"] = ""
    outcome["phone_note"] = [
        phone.note if known else ""
        for phone, known in zip(phones, has_region, strict=True)
    ]
    _apply_failures(outcome, checked, config, failures, phones)
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


def _parse_phones(cells: pd.Series, regions: pd.Series) -> list[ParsedPhone]:
    """Parse every phone cell once with its row's region.

    A row without a region is parsed too, so that Excel damage such as lost
    digits is reported even when the country is also unknown.
    """
    return parse_phones(zip(cells.tolist(), regions.tolist(), strict=True))


def _lacks_reason(code: str, frame: pd.DataFrame) -> pd.Series:
    return frame[PHONE_REASON_COLUMN] != code


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
    outcome: pd.DataFrame,
    frame: pd.DataFrame,
    config: Config,
    failures: pd.DataFrame,
    phones: list[ParsedPhone],
) -> None:
    """Mark each failing row rejected with its most important reason."""
    rank = {code: position for position, code in enumerate(REASON_ORDER)}
    failures = failures.assign(rank=failures["check"].map(rank))
    first = failures.sort_values(["index", "rank"]).drop_duplicates("index")

    # Assign whole columns at once: one `.loc` write per row takes seconds when a
    # wrongly mapped file rejects every one of thousands of rows.
    rows = first["index"].tolist()
    phone_details = dict(
        zip(frame.index, (phone.detail for phone in phones), strict=True)
    )
    details = [
        phone_details[row]
        if code in PHONE_CHECKS
        else _detail(code, column, frame.loc[row], config)
        for row, code, column in first[["index", "check", "column"]].itertuples(
            index=False
        )
    ]
    outcome.loc[rows, "status"] = Status.REJECTED.value
    outcome.loc[rows, "reason"] = first["check"].tolist()
    outcome.loc[rows, "detail"] = details


def _detail(code: str, column: str, row: pd.Series, config: Config) -> str:
    """Describe a failure of a check other than phone parsing, in words to act on."""
    if code == "country_unknown":
        country = row[config.phone.country_column]
        return f"{country!r} in {config.phone.country_column!r} is not a known country"
    if code == "required_missing":
        return f"{column!r} is empty"

    return f"{config.phone.column!r} is empty"


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
        f"same number as row {row}" for row in first_rows[duplicates].tolist()
    ]
