"""Calling rules: the do-not-call list, each lead's calling window, and the guards.

They run after validation and the ledger, on the rows still pending, and turn
every lead they hold back into a status and a reason:

- `skipped`, `do_not_call`: the number or its prefix is on the do-not-call list;
- `deferred`, `outside_calling_window`: not now, with the earliest call time;
- `rejected`, `timezone_unknown` or `window_never_open`: no time is safe;
- `skipped`, `rejected_share`, `day_limit`, `run_limit` or `canary`: a guard.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from pipeline.config import CallingWindowSettings, Config, DoNotCallSettings
from pipeline.errors import InputError
from pipeline.load import LeadTable, load_leads
from pipeline.phones import parse_every_number, resolve_region
from pipeline.results import Status, pending_rows
from pipeline.window import CallingWindow, zone_from_name, zones_for_number

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DoNotCallList:
    """Numbers in E.164 form and prefixes that must never be called."""

    numbers: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def match(self, e164: str) -> str:
        """Return why the number is listed, or '' when it is not."""
        if e164 in self.numbers:
            return "the number is on the do-not-call list"
        for prefix in self.prefixes:
            if e164.startswith(prefix):
                return f"the number starts with the do-not-call prefix {prefix}"

        return ""


def load_do_not_call(
    settings: DoNotCallSettings, default_country: str
) -> DoNotCallList:
    """Read the do-not-call file, each cell the way a lead's phone cell is read.

    Every number of a cell is blocked. National numbers are read in the row's
    country (`do_not_call.country_column`), else `do_not_call.default_country`,
    else the leads' default country.

    Raises:
        InputError: the file cannot be read, or a cell contains anything that
            is not a valid number. A list that cannot be read whole must not let
            a number through.
    """
    prefixes = tuple("+" + prefix[1:].replace(" ", "") for prefix in settings.prefixes)
    if settings.path is None:
        return DoNotCallList(prefixes=prefixes)

    columns = [settings.column]
    if settings.country_column:
        columns.append(settings.country_column)
    table = load_leads(settings.path, sheet=settings.sheet, columns=columns)
    default = (settings.default_country or default_country).upper()
    numbers: set[str] = set()
    unreadable: list[str] = []
    for row, cell, region in _listed_cells(table, settings, default):
        parsed = parse_every_number(cell, region) if region else []
        if cell.strip() and (not parsed or not all(p.e164 for p in parsed)):
            unreadable.append(f"{row} ({cell.strip()!r})")
        numbers.update(p.e164 for p in parsed if p.e164)

    if unreadable:
        raise InputError(
            f"{settings.path}: these rows of the do-not-call list are not valid "
            f"phone numbers: {', '.join(unreadable[:10])}. Fix or remove them, or "
            "set do_not_call.country_column, so that no listed number can be called"
        )
    logger.info(
        "do-not-call list: %d numbers, %d prefixes", len(numbers), len(prefixes)
    )

    return DoNotCallList(frozenset(numbers), prefixes)


def _listed_cells(
    table: LeadTable, settings: DoNotCallSettings, default: str
) -> Iterator[tuple[int, str, str | None]]:
    """Yield each row's number cell and region; None for an unknown country."""
    phone = table.matched_columns.get(settings.column, settings.column)
    country = settings.country_column
    countries = (
        table.frame[table.matched_columns.get(country, country)]
        if country
        else pd.Series("", index=table.frame.index)
    )
    for row, cell in table.frame[phone].items():
        written = countries[row].strip()
        region = resolve_region(written) if written else default
        yield int(row), cell, region


def apply_do_not_call(outcome: pd.DataFrame, listed: DoNotCallList) -> None:
    """Skip every pending row whose number is listed."""
    for row in pending_rows(outcome):
        listing = listed.match(outcome.at[row, "phone_e164"])
        if listing:
            _mark(outcome, row, Status.SKIPPED, "do_not_call", listing)


def apply_calling_window(
    outcome: pd.DataFrame,
    frame: pd.DataFrame,
    settings: CallingWindowSettings,
    now: datetime,
) -> None:
    """Defer every pending lead whose local window is closed now."""
    window = settings.window()
    zone_cells = (
        frame[settings.timezone_column]
        if settings.timezone_column
        else pd.Series("", index=frame.index)
    )
    # Leads share a few zone sets, so each set's timing is worked out once.
    timings: dict[tuple[ZoneInfo, ...], _Timing] = {}
    for row in pending_rows(outcome):
        zones = _zones(zone_cells[row], outcome.at[row, "phone_e164"])
        if zones is None:
            detail = f"time zone {zone_cells[row]!r} is not an IANA or Windows name"
            _mark(outcome, row, Status.REJECTED, "timezone_unknown", detail)
        elif not zones:
            detail = "the number's time zone is not known, so no hour is safe"
            _mark(outcome, row, Status.REJECTED, "timezone_unknown", detail)
        else:
            if zones not in timings:
                timings[zones] = _timing(window, zones, now)
            _apply_timing(outcome, row, zones, timings[zones], now)


def _zones(cell: str, e164: str) -> tuple[ZoneInfo, ...] | None:
    """Return the zones of the lead's cell, else of its number; None for a bad cell."""
    if cell.strip():
        zone = zone_from_name(cell)
        return None if zone is None else (zone,)

    return zones_for_number(e164)


@dataclass(frozen=True)
class _Timing:
    """When a set of zones may be called, seen from the start of the run."""

    earliest: datetime | None
    """The first moment the window is open in every zone; None if never."""
    closes: datetime | None = None
    """When the window, open now, closes; None unless open now."""
    next_open: datetime | None = None
    """When it opens again after `closes`."""


def _timing(
    window: CallingWindow, zones: tuple[ZoneInfo, ...], now: datetime
) -> _Timing:
    earliest = window.earliest_open(now, zones)
    if earliest != now:
        return _Timing(earliest)

    closes = window.closes_after(now, zones)

    return _Timing(now, closes, window.earliest_open(closes, zones))


def _apply_timing(
    outcome: pd.DataFrame,
    row: int,
    zones: tuple[ZoneInfo, ...],
    timing: _Timing,
    now: datetime,
) -> None:
    if timing.earliest == now:
        # Open now: remember when it closes, so a call still waiting then is
        # deferred rather than placed outside the window.
        outcome.at[row, "call_before"] = timing.closes
        outcome.at[row, "next_open"] = timing.next_open
        return
    if timing.earliest is None:
        names = ", ".join(str(zone) for zone in zones)
        detail = f"the window is never open in all of {names} at once"
        _mark(outcome, row, Status.REJECTED, "window_never_open", detail)
        return

    local = timing.earliest.astimezone(zones[0])
    detail = f"earliest call {local:%Y-%m-%d %H:%M} {zones[0]}" + (
        f" and {len(zones) - 1} more zones" if len(zones) > 1 else ""
    )
    _mark(outcome, row, Status.DEFERRED, "outside_calling_window", detail)
    outcome.at[row, "earliest_call_at"] = timing.earliest


def reject_share(outcome: pd.DataFrame) -> float:
    """Return the share of input rows that failed validation."""
    if not len(outcome):
        return 0.0

    return float((outcome["status"] == Status.REJECTED.value).mean())


def hold_back_all(outcome: pd.DataFrame, reason: str, detail: str) -> None:
    """Skip every pending row because of a guard."""
    for row in pending_rows(outcome):
        _mark(outcome, row, Status.SKIPPED, reason, detail)


def hold_back_beyond(
    outcome: pd.DataFrame, limit: int, reason: str, detail: str
) -> None:
    """Skip the pending rows after the first `limit` because of a guard."""
    held_back = pending_rows(outcome)[limit:]
    for row in held_back:
        _mark(outcome, row, Status.SKIPPED, reason, detail)
    if len(held_back):
        logger.warning("leads held back by %s: %d; %s", reason, len(held_back), detail)


def _mark(
    outcome: pd.DataFrame, row: int, status: Status, reason: str, detail: str
) -> None:
    outcome.at[row, "status"] = status.value
    outcome.at[row, "reason"] = reason
    outcome.at[row, "detail"] = detail


def apply_rules(
    outcome: pd.DataFrame,
    frame: pd.DataFrame,
    config: Config,
    *,
    now: datetime,
    calls_today: int,
    canary_calls: int | None,
) -> None:
    """Apply the reject-share guard, the calling window and the call limits.

    Args:
        calls_today: calls the ledger shows for this outbound since 00:00 UTC.
        canary_calls: place only this many calls, then stop for review.
    """
    guards = config.guards
    share = reject_share(outcome)
    if guards.max_rejected_share is not None and share > guards.max_rejected_share:
        detail = (
            f"{share:.0%} of the rows were rejected, more than "
            f"guards.max_rejected_share ({guards.max_rejected_share:.0%}); check "
            "the column mapping, then run again"
        )
        logger.error("no call placed: %s", detail)
        hold_back_all(outcome, "rejected_share", detail)
        return

    if config.calling_window is not None:
        apply_calling_window(outcome, frame, config.calling_window, now)
    if guards.max_calls_per_day is not None:
        left = max(0, guards.max_calls_per_day - calls_today)
        detail = (
            f"guards.max_calls_per_day ({guards.max_calls_per_day}) reached: "
            f"{calls_today} calls before this run since 00:00 UTC and {left} in "
            "it; a run tomorrow calls it"
        )
        hold_back_beyond(outcome, left, "day_limit", detail)
    if config.nlpearl.max_calls_per_run is not None:
        limit = config.nlpearl.max_calls_per_run
        detail = f"nlpearl.max_calls_per_run ({limit}) reached; a later run calls it"
        hold_back_beyond(outcome, limit, "run_limit", detail)
    if canary_calls is not None:
        detail = (
            f"the canary run places {canary_calls} calls for review; run again "
            "without the canary to call the rest"
        )
        hold_back_beyond(outcome, canary_calls, "canary", detail)
