"""The main job: load, validate, map, dispatch and write, in that order."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd

from pipeline.calling import Target, call_or_preview, credentials_for
from pipeline.config import Config
from pipeline.errors import ConfigError, OutputError
from pipeline.history import apply_history
from pipeline.ledger import Ledger, LedgerRecorder, ledger_lock
from pipeline.load import load_leads
from pipeline.logs import run_id_context
from pipeline.mapping import build_call_data
from pipeline.results import RunSummary, Status, format_counts
from pipeline.rules import apply_do_not_call, apply_rules, load_do_not_call
from pipeline.validate import validate_leads
from pipeline.write import check_writable, write_results

logger = logging.getLogger(__name__)


def new_run_id(now: datetime) -> str:
    """Return a run id that sorts by start time, such as 20261204T020000Z-1a2b3c."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices that override or add to the config for one run."""

    input_path: Path | None = None
    output_path: Path | None = None
    dry_run: bool = False
    ignore_cooldown: bool = False
    redial_unknown: bool = False
    canary_calls: int | None = None


def run(
    config: Config,
    options: RunOptions = RunOptions(),
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    run_id: str | None = None,
) -> RunSummary:
    """Run the main job once and write the results workbook.

    Args:
        transport: where API requests go; None means the config decides, the
            in-process sandbox when `nlpearl.sandbox` is true, else the network.

    Raises:
        ConfigError, InputError, OutputError: the run could not start or
            finish; nothing is called when the config or input is bad.
        RunLocked: another run holds the ledger; nothing was changed.
    """
    started_at = clock()
    run_id = run_id or new_run_id(started_at)
    input_path = options.input_path or config.input.path
    output_path = options.output_path or config.output.path
    _check_paths(input_path, output_path)
    credentials = None if options.dry_run else credentials_for(config)

    with run_id_context(run_id), _open_ledger(config, options, clock) as ledger:
        do_not_call = load_do_not_call(config.do_not_call, config.phone.default_country)
        logger.info("run %s: loading %s", run_id, input_path)
        table = load_leads(
            input_path, sheet=config.input.sheet, columns=config.lead_columns()
        )
        # Headers can differ from the config in case and spaces; the stages
        # use the config's names, the workbook keeps the file's.
        renames = {found: wanted for wanted, found in table.matched_columns.items()}
        frame = table.frame.rename(columns=renames)
        outcome = _validate_and_map(frame, config)
        apply_do_not_call(outcome, do_not_call)
        now = clock()
        _apply_ledger(outcome, ledger, config, options, now)
        apply_rules(
            outcome,
            frame,
            config,
            now=now,
            calls_today=_calls_today(ledger, config, now),
            canary_calls=options.canary_calls or config.guards.canary_calls,
        )
        _record_deferrals(ledger, outcome, config, options, run_id)
        recorder = _recorder(ledger, frame, config, options, run_id)
        target = Target(credentials, transport)
        stopped = call_or_preview(outcome, config, target, recorder, clock)

        summary = RunSummary(
            run_id=run_id,
            started_at=started_at,
            finished_at=clock(),
            input_path=input_path,
            sheet=table.sheet,
            output_path=output_path,
            outbound_id=config.nlpearl.outbound_id,
            mode=_mode(config, options),
            status_counts=_counts(outcome["status"]),
            reason_counts=_counts(outcome["reason"]),
            stopped=stopped,
        )
        if stopped:
            logger.error("calling stopped: %s", stopped)
        logger.info("writing %s", output_path)
        _write(output_path, table.frame, outcome, summary)
        logger.info(summary.closing_line())

    return summary


@contextlib.contextmanager
def _open_ledger(
    config: Config, options: RunOptions, clock: Callable[[], datetime]
) -> Iterator[Ledger | None]:
    """Lock and open the ledger; a dry run reads it and writes nothing to it."""
    path = config.ledger_path()
    with ledger_lock(path):
        if options.dry_run:
            ledger = (
                Ledger(path, read_only=True, clock=clock) if path.exists() else None
            )
        else:
            ledger = Ledger(path, clock=clock)
            _report_interrupted(ledger.mark_interrupted())
        try:
            yield ledger
        finally:
            if ledger is not None:
                ledger.close()


def _report_interrupted(count: int) -> None:
    if count:
        logger.warning(
            "earlier calls sent without a recorded response: %d; "
            "their leads are marked unknown",
            count,
        )


def _apply_ledger(
    outcome: pd.DataFrame,
    ledger: Ledger | None,
    config: Config,
    options: RunOptions,
    now: datetime,
) -> None:
    """Skip leads that earlier runs called and hold back unknown outcomes."""
    if ledger is None:
        return

    pending = outcome["status"] == Status.PENDING.value
    attempts = ledger.latest_attempts(
        config.nlpearl.outbound_id, outcome.loc[pending, "phone_e164"]
    )
    apply_history(
        outcome,
        attempts,
        now=now,
        cooldown=timedelta(days=config.ledger.cooldown_days),
        ignore_cooldown=options.ignore_cooldown,
        redial_unknown=options.redial_unknown,
    )


def _calls_today(ledger: Ledger | None, config: Config, now: datetime) -> int:
    """Return the calls this outbound placed since 00:00 UTC, by the ledger."""
    if ledger is None:
        return 0
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    return ledger.calls_since(config.nlpearl.outbound_id, midnight)


def _record_deferrals(
    ledger: Ledger | None,
    outcome: pd.DataFrame,
    config: Config,
    options: RunOptions,
    run_id: str,
) -> None:
    """Queue the deferred leads in the ledger with their earliest call times."""
    if ledger is None or options.dry_run:
        return
    deferred = outcome[outcome["status"] == Status.DEFERRED.value]
    ledger.record_deferrals(
        config.nlpearl.outbound_id,
        run_id,
        zip(deferred["phone_e164"], deferred["earliest_call_at"], strict=True),
    )


def _recorder(
    ledger: Ledger | None,
    frame: pd.DataFrame,
    config: Config,
    options: RunOptions,
    run_id: str,
) -> LedgerRecorder | None:
    if ledger is None or options.dry_run:
        return None
    id_column = config.input.id_column
    lead_keys = frame[id_column].to_dict() if id_column else {}

    return LedgerRecorder(
        ledger,
        run_id=run_id,
        outbound_id=config.nlpearl.outbound_id,
        lead_keys=lead_keys,
    )


def _write(
    path: Path, leads: pd.DataFrame, outcome: pd.DataFrame, summary: RunSummary
) -> None:
    """Write the workbook; if that fails after calls, say where they are."""
    try:
        write_results(path, leads, outcome, summary)
    except OutputError as error:
        if summary.status_counts.get(Status.CALLED.value):
            raise OutputError(
                f"{error}. The calls of this run were placed and are recorded in "
                "the ledger; run again to write the workbook, which will list "
                "them as already_called with their request ids"
            ) from error
        raise


def _check_paths(input_path: Path, output_path: Path) -> None:
    """Refuse an output path that cannot work, before any call is placed."""
    if output_path.resolve() == input_path.resolve():
        raise ConfigError(
            f"the output path {output_path} is the input file; "
            "choose another output.path so the leads are not overwritten"
        )
    if output_path.suffix.lower() != ".xlsx":
        raise ConfigError(
            f"the output path {output_path} must end in .xlsx, the format written"
        )
    check_writable(output_path)


def _validate_and_map(frame: pd.DataFrame, config: Config) -> pd.DataFrame:
    outcome = validate_leads(frame, config)
    outcome["call_data"] = build_call_data(frame, config.call_data)
    outcome["request_id"] = ""
    outcome["from_number"] = ""
    outcome["queue_position"] = pd.Series(None, index=outcome.index, dtype=object)
    outcome["called_at"] = pd.Series(None, index=outcome.index, dtype=object)
    outcome["earliest_call_at"] = pd.Series(None, index=outcome.index, dtype=object)
    outcome["call_before"] = pd.Series(None, index=outcome.index, dtype=object)
    outcome["next_open"] = pd.Series(None, index=outcome.index, dtype=object)

    counts = _counts(outcome["status"])
    logger.info("validated %d rows: %s", len(outcome), format_counts(counts))

    return outcome


def _mode(config: Config, options: RunOptions) -> str:
    if options.dry_run:
        return "dry run"

    return "sandbox" if config.nlpearl.sandbox else "live"


def _counts(values: pd.Series) -> dict[str, int]:
    """Count each non-empty value, in order of first appearance."""
    counts = values[values != ""].value_counts(sort=False)

    return {str(value): int(count) for value, count in counts.items()}
