"""Benchmark of the whole pipeline on 100,000 leads in dry-run mode.

Run from the repository root:

    .venv/bin/python bench/pipeline_100k.py [--rows 100000]

It writes a workbook of fake leads (8 columns) to a temporary folder, then runs
three measurements, each in a fresh Python process so that peak memory is that
of one measurement alone:

1. stages: load, validate, map and write, each timed by calling its function;
2. run: `pipeline.run.run(config, RunOptions(dry_run=True))`, the whole job as
   the command line runs it, timed, with its peak resident memory;
3. naive: the same work done the usual way, `pandas.read_excel` with openpyxl,
   `phonenumbers` row by row, and `DataFrame.to_excel` with openpyxl.

Targets: the run at most 8 s and at least 3 times faster than the naive way,
with at most 600 MB of peak memory.

Phone numbers are fictional only: +1 201 555 0100 to 0199 and +44 20 7946 0000
to 0999, 1,100 numbers in all. To give every row a distinct cell, as in a real
export, each number is repeated with a different extension, so the parser gets
100,000 distinct cells. The run calls the first row of each number and skips
the others as duplicates. Nothing is sent anywhere: the run is a dry run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import phonenumbers
import xlsxwriter
from phonenumbers import PhoneNumberFormat

from pipeline.config import Config
from pipeline.load import load_leads
from pipeline.mapping import build_call_data
from pipeline.results import RunSummary, Status
from pipeline.run import RunOptions, run
from pipeline.validate import validate_leads
from pipeline.write import write_results

HEADERS = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Company",
    "Country",
    "Created",
]
US_FORMATS = ["(201) 555-{line} x{extension}", "+1 201 555 {line} ext. {extension}"]
UK_FORMATS = ["020 7946 {line} ext. {extension}", "+44 20 7946 {line} x{extension}"]

E164 = PhoneNumberFormat.E164
TARGET_SECONDS = 8.0
TARGET_SPEEDUP = 3.0
TARGET_MEGABYTES = 600.0


def phone_cell(row: int) -> tuple[str, str]:
    """Return row's fictional phone cell, distinct per row, and its country."""
    number, extension = row % 1100, row // 1100 + 1
    if number < 100:
        template = US_FORMATS[row % len(US_FORMATS)]
        return template.format(line=f"{100 + number:04d}", extension=extension), "US"

    template = UK_FORMATS[row % len(UK_FORMATS)]
    return template.format(line=f"{number - 100:04d}", extension=extension), "GB"


def write_leads(path: Path, rows: int) -> None:
    """Write the lead workbook: numbers, dates and text, as a CRM export has them."""
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet("Leads")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, HEADERS)
    first_day = datetime.datetime(2025, 1, 1)
    for row in range(rows):
        phone, country = phone_cell(row)
        sheet.write_number(row + 1, 0, 100_000 + row)
        sheet.write_string(row + 1, 1, f"First{row % 97}")
        sheet.write_string(row + 1, 2, f"Last{row % 89}")
        sheet.write_string(row + 1, 3, f"lead{row}@example.com")
        sheet.write_string(row + 1, 4, phone)
        sheet.write_string(row + 1, 5, f"Company {row % 500}")
        sheet.write_string(row + 1, 6, country)
        created = first_day + datetime.timedelta(days=row % 365)
        sheet.write_datetime(row + 1, 7, created, date_format)
    workbook.close()


def make_config(leads: Path, output: Path) -> Config:
    """Return a dry-run config that maps five columns to call variables."""
    return Config.model_validate(
        {
            "input": {"path": str(leads)},
            "phone": {
                "column": "Phone",
                "default_country": "US",
                "country_column": "Country",
            },
            "call_data": {
                "firstName": {"column": "First Name", "required": True},
                "lastName": "Last Name",
                "email": "Email",
                "company": {"column": "Company", "default": "your company"},
                "created": "Created",
            },
            "nlpearl": {"outbound_id": "bench-outbound", "sandbox": True},
            "output": {"path": str(output)},
        }
    )


def peak_megabytes() -> float:
    """Return this process's peak resident memory; Linux reports it in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_stages(leads: Path, folder: Path) -> dict[str, Any]:
    """Time each stage by calling its function as pipeline.run.run does."""
    config = make_config(leads, folder / "stages.xlsx")
    times: dict[str, float] = {}

    started = time.perf_counter()
    table = load_leads(leads, sheet=None, columns=config.lead_columns())
    times["load"] = time.perf_counter() - started

    started = time.perf_counter()
    outcome = validate_leads(table.frame, config)
    times["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    outcome["call_data"] = build_call_data(table.frame, config.call_data)
    times["map"] = time.perf_counter() - started

    for name in ["request_id", "from_number"]:
        outcome[name] = ""
    for name in ["queue_position", "called_at"]:
        outcome[name] = pd.Series(None, index=outcome.index, dtype=object)
    outcome.loc[outcome["status"] == Status.PENDING.value, "status"] = "dry_run"
    moment = datetime.datetime.now(datetime.UTC)
    counts = outcome["status"].value_counts().to_dict()
    summary = RunSummary(
        "bench", moment, moment, leads, None, folder, "bench", "dry run", counts, {}
    )
    started = time.perf_counter()
    write_results(folder / "stages.xlsx", table.frame, outcome, summary)
    times["write"] = time.perf_counter() - started

    return {"times": times, "rows": len(outcome), "peak_mb": peak_megabytes()}


def measure_run(leads: Path, folder: Path) -> dict[str, Any]:
    """Time the whole dry run as the command line starts it."""
    config = make_config(leads, folder / "run.xlsx")

    started = time.perf_counter()
    summary = run(config, RunOptions(dry_run=True))
    seconds = time.perf_counter() - started

    return {
        "seconds": seconds,
        "statuses": summary.status_counts,
        "peak_mb": peak_megabytes(),
    }


def measure_naive(leads: Path, folder: Path) -> dict[str, Any]:
    """Do the same work the usual way: openpyxl, a row loop, openpyxl again."""
    times: dict[str, float] = {}

    started = time.perf_counter()
    frame = pd.read_excel(leads, engine="openpyxl", dtype=str, keep_default_na=False)
    times["read"] = time.perf_counter() - started

    started = time.perf_counter()
    numbers, statuses, call_data = [], [], []
    for row in frame.itertuples(index=False, name=None):
        _, first, last, email, phone, company, country, created = row
        try:
            number = phonenumbers.parse(phone, country)
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        e164 = phonenumbers.format_number(number, E164) if valid else ""
        numbers.append(e164)
        statuses.append("dry_run" if valid else "rejected")
        data = {
            "firstName": first,
            "lastName": last,
            "email": email,
            "company": company,
            "created": created,
        }
        call_data.append(json.dumps(data))
    frame["phone_e164"] = numbers
    frame["status"] = statuses
    frame["call_data"] = call_data
    times["validate, map"] = time.perf_counter() - started

    started = time.perf_counter()
    frame.to_excel(folder / "naive.xlsx", engine="openpyxl", index=False)
    times["write"] = time.perf_counter() - started

    return {"times": times, "seconds": sum(times.values()), "peak_mb": peak_megabytes()}


MEASUREMENTS = {"stages": measure_stages, "run": measure_run, "naive": measure_naive}


def run_child(kind: str, leads: Path, folder: Path) -> dict[str, Any]:
    """Run one measurement in a fresh process and return its JSON result."""
    finished = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(leads), str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )

    return json.loads(finished.stdout.strip().splitlines()[-1])


def report(
    rows: int, stages: dict[str, Any], whole: dict[str, Any], naive: dict[str, Any]
) -> None:
    """Print the stage times, the run against the naive way, and the targets."""
    print(f"{rows:,} leads, 8 columns; dry run; Python {sys.version.split()[0]}")
    for name, seconds in stages["times"].items():
        print(f"  stage {name:<9}{seconds:6.2f} s")
    print(f"  stages, summed {sum(stages['times'].values()):6.2f} s")
    print(
        f"run (dry run)    {whole['seconds']:6.2f} s  peak {whole['peak_mb']:4.0f} MB"
    )
    print(
        f"naive way        {naive['seconds']:6.2f} s  peak {naive['peak_mb']:4.0f} MB"
    )
    for name, seconds in naive["times"].items():
        print(f"  naive {name:<14}{seconds:6.2f} s")
    speedup = naive["seconds"] / whole["seconds"]
    print(f"statuses: {whole['statuses']}")
    seconds, megabytes = whole["seconds"], whole["peak_mb"]
    checks = [
        (f"total {seconds:.2f} s <= {TARGET_SECONDS} s", seconds <= TARGET_SECONDS),
        (f"speed-up {speedup:.1f}x >= {TARGET_SPEEDUP}x", speedup >= TARGET_SPEEDUP),
        (
            f"peak {megabytes:.0f} MB <= {TARGET_MEGABYTES} MB",
            megabytes <= TARGET_MEGABYTES,
        ),
    ]
    for text, passed in checks:
        print(f"{'met   ' if passed else 'MISSED'} {text}")


def main() -> None:
    """Build the lead file and print every measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="leads to generate")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.child:
        kind, leads, folder = arguments.child
        result = MEASUREMENTS[kind](Path(leads), Path(folder))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as name:
        folder = Path(name)
        leads = folder / "leads.xlsx"
        write_leads(leads, arguments.rows)
        stages = run_child("stages", leads, folder)
        whole = run_child("run", leads, folder)
        naive = run_child("naive", leads, folder)
    report(arguments.rows, stages, whole, naive)


if __name__ == "__main__":
    main()
