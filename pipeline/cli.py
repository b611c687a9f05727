"""Command line: `run` places the calls of a lead file, `sandbox` serves a fake API."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from pipeline import sandbox
from pipeline.calling import SANDBOX_CREDENTIALS
from pipeline.config import credentials_from_environment, load_config
from pipeline.errors import PipelineError
from pipeline.exit_codes import ExitCode
from pipeline.logs import configure_logging, run_id_context
from pipeline.run import RunOptions, new_run_id, run
from pipeline.sandbox.server import serve

logger = logging.getLogger("pipeline")

EXIT_CODES_HELP = "\n".join(f"  {code.value}  {code.meaning}" for code in ExitCode)


@click.group()
@click.version_option(package_name="nlpearl-pipeline")
def cli() -> None:
    """Call every valid lead of a CRM export through NLPearl."""


@cli.command(
    "run",
    epilog=f"\b\nExit codes:\n{EXIT_CODES_HELP}",
)
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    help="Lead file to read instead of the config's input.path.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(path_type=Path),
    help="Results workbook to write instead of the config's output.path.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and map every row and write the workbook, but call nobody.",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text or as one JSON object per line.",
)
@click.option(
    "--ignore-cooldown",
    is_flag=True,
    help="Call leads again even if the ledger shows a call within the cool-down.",
)
@click.option(
    "--redial-unknown",
    is_flag=True,
    help="Call again the leads whose earlier call has an unknown outcome.",
)
@click.option(
    "--canary",
    "canary_calls",
    type=click.IntRange(min=1),
    help="Place only the first N calls and hold back the rest for review.",
)
@click.option("--verbose", is_flag=True, help="Also log debug lines.")
def run_command(
    config_path: Path,
    input_path: Path | None,
    output_path: Path | None,
    dry_run: bool,
    log_format: str,
    ignore_cooldown: bool,
    redial_unknown: bool,
    canary_calls: int | None,
    verbose: bool,
) -> None:
    """Read the leads named in CONFIG, call each valid one, write the results.

    NLPEARL_ACCOUNT_ID and NLPEARL_SECRET_KEY must be set in the environment,
    unless the config sets `sandbox = true`. The run ledger remembers every
    call, so running again on the same file calls nobody twice.
    """
    configure_logging(json_lines=log_format == "json", verbose=verbose)
    options = RunOptions(
        input_path=input_path,
        output_path=output_path,
        dry_run=dry_run,
        ignore_cooldown=ignore_cooldown,
        redial_unknown=redial_unknown,
        canary_calls=canary_calls,
    )

    run_id = new_run_id(datetime.now(UTC))
    with run_id_context(run_id):
        try:
            summary = run(load_config(config_path), options, run_id=run_id)
        except PipelineError as error:
            logger.error("%s", error)
            sys.exit(error.exit_code)
        except Exception:
            logger.exception("unexpected error; the run did not finish")
            sys.exit(ExitCode.INTERNAL)

    sys.exit(summary.exit_code())


class ErrorRateType(click.ParamType):
    """Click type of `--error-rate STATUS=SHARE`, such as `503=0.1`."""

    name = "STATUS=SHARE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, float]:
        """Parse `STATUS=SHARE` into a server error status and a share from 0 to 1."""
        status_text, _, share_text = str(value).partition("=")
        try:
            status = int(status_text)
            share = float(share_text)
        except ValueError:
            self.fail(f"{value!r} is not STATUS=SHARE, such as 503=0.1", param, ctx)

        if status not in sandbox.SERVER_ERROR_STATUSES:
            self.fail(f"{status} is not a server error status (500 to 599)", param, ctx)
        if not 0.0 <= share <= 1.0:
            self.fail(f"the share of {status} must be between 0 and 1", param, ctx)

        return status, share


SHARE = click.FloatRange(0.0, 1.0)


@cli.command("sandbox")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="TCP port on 127.0.0.1; 0 picks a free one.",
)
@click.option(
    "--outbound-id",
    "outbound_ids",
    multiple=True,
    default=[sandbox.DEMO_OUTBOUND_ID],
    show_default=True,
    help="Outbound id the sandbox accepts; repeat for several.",
)
@click.option(
    "--agents",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Agents behind the outbound; calls beyond them wait in the queue.",
)
@click.option(
    "--call-seconds",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Length of every simulated call in seconds, after which its agent is free.",
)
@click.option(
    "--latency",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Delay in seconds before every authorized API response.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Make Call requests per second admitted before the sandbox responds with "
    "429 and Retry-After. Default: no limit.",
)
@click.option(
    "--error-rate",
    "error_rates",
    type=ErrorRateType(),
    multiple=True,
    help="Share (0 to 1) of Make Call requests that get the server error STATUS and "
    "record no call, such as 503=0.1. Repeat for several statuses.",
)
@click.option(
    "--drop-before-record-rate",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share (0 to 1) of Make Call requests whose connection closes without a "
    "response and without recording the call.",
)
@click.option(
    "--drop-after-record-rate",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share (0 to 1) of accepted calls that are recorded and whose connection "
    "then closes without a response.",
)
@click.option(
    "--timeout-rate",
    type=SHARE,
    default=0.0,
    show_default=True,
    help="Share (0 to 1) of accepted calls that are recorded but whose response is "
    "held back for an hour, so the client times out.",
)
@click.option(
    "--seed",
    type=int,
    help="Seed of the random fault draws, so that a session can be repeated. "
    "Default: a new seed at every start.",
)
def sandbox_command(
    port: int,
    outbound_ids: tuple[str, ...],
    agents: int,
    call_seconds: float,
    latency: float,
    rate_limit: float | None,
    error_rates: tuple[tuple[int, float], ...],
    drop_before_record_rate: float,
    drop_after_record_rate: float,
    timeout_rate: float,
    seed: int | None,
) -> None:
    """Serve a fake NLPearl API on 127.0.0.1 until interrupted.

    It accepts the credentials in NLPEARL_ACCOUNT_ID and NLPEARL_SECRET_KEY
    when both are set, else the demo pair sandbox-account:sandbox-secret.
    GET /_sandbox/calls lists every call it accepted. The rate limit, error,
    drop and timeout options apply to Make Call requests only.
    """
    configure_logging()
    try:
        credentials = credentials_from_environment(sandbox_fallback=SANDBOX_CREDENTIALS)
        settings = sandbox.SandboxSettings(
            account_id=credentials.account_id,
            secret_key=credentials.secret_key,
            outbound_ids=outbound_ids,
            agents=agents,
            call_seconds=call_seconds,
            latency_seconds=latency,
            rate_limit_per_second=rate_limit,
            error_rates=_error_rate_map(error_rates),
            drop_before_record_rate=drop_before_record_rate,
            drop_after_record_rate=drop_after_record_rate,
            timeout_after_record_rate=timeout_rate,
            seed=seed,
        )
    except (PipelineError, ValueError) as error:
        raise click.UsageError(str(error)) from error

    def announce(actual_port: int) -> None:
        click.echo(f"NLPearl sandbox listening on http://127.0.0.1:{actual_port}")
        sys.stdout.flush()

    try:
        serve(settings, port=port, ready=announce)
    except KeyboardInterrupt:
        logger.info("sandbox stopped")


def _error_rate_map(error_rates: tuple[tuple[int, float], ...]) -> dict[int, float]:
    """Turn the `--error-rate` pairs into a map, raising ValueError on a repeat."""
    rates: dict[int, float] = {}
    for status, share in error_rates:
        if status in rates:
            raise ValueError(f"--error-rate gives status {status} more than once")
        rates[status] = share

    return rates


def main() -> None:
    """Entry point of the `nlpearl-pipeline` console script."""
    cli()
