"""Tests of the calling rules: windows across time zones, do-not-call, guards."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import stamina

from pipeline import sandbox
from pipeline.config import Config, load_config
from pipeline.errors import InputError
from pipeline.exit_codes import ExitCode
from pipeline.results import RunSummary
from pipeline.rules import load_do_not_call
from pipeline.run import RunOptions, run
from pipeline.window import CallingWindow, zone_from_name, zones_for_number

ROOT = Path(__file__).resolve().parent.parent
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat"]


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run against the sandbox's demo credentials, with instant retries."""
    monkeypatch.delenv("NLPEARL_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("NLPEARL_SECRET_KEY", raising=False)
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield


def window(hours: str = "09:00-20:00", days: list[str] = WEEKDAYS) -> CallingWindow:
    """Return a calling window."""
    return CallingWindow.parse(hours, days)


def test_window_open_inside_hours() -> None:
    """A Friday at 10:00 in New York is inside 09:00-20:00, Monday to Saturday."""
    moment = datetime(2026, 12, 4, 10, 0, tzinfo=NEW_YORK)

    assert window().is_open(moment, NEW_YORK)


def test_window_closed_at_end_hour() -> None:
    """The end hour itself is outside the window."""
    moment = datetime(2026, 12, 4, 20, 0, tzinfo=NEW_YORK)

    assert not window().is_open(moment, NEW_YORK)


def test_window_closed_on_sunday() -> None:
    """A Sunday is outside a Monday-to-Saturday window."""
    moment = datetime(2026, 12, 6, 12, 0, tzinfo=NEW_YORK)

    assert not window().is_open(moment, NEW_YORK)


def test_earliest_open_same_day() -> None:
    """At 02:00 in New York the earliest call is 09:00 the same day."""
    now = datetime(2026, 12, 4, 2, 0, tzinfo=NEW_YORK)

    earliest = window().earliest_open(now, (NEW_YORK,))

    assert earliest == datetime(2026, 12, 4, 9, 0, tzinfo=NEW_YORK)


def test_earliest_open_skips_sunday() -> None:
    """On Saturday evening the earliest call is Monday morning."""
    now = datetime(2026, 12, 5, 21, 0, tzinfo=NEW_YORK)

    earliest = window().earliest_open(now, (NEW_YORK,))

    assert earliest == datetime(2026, 12, 7, 9, 0, tzinfo=NEW_YORK)


def test_earliest_open_when_open_is_now() -> None:
    """A window open now returns now."""
    now = datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK)

    assert window().earliest_open(now, (NEW_YORK,)) == now


def test_several_zones_must_all_be_open() -> None:
    """With New York and London, the window opens when New York's does."""
    now = datetime(2026, 12, 4, 2, 0, tzinfo=NEW_YORK)

    earliest = window().earliest_open(now, (NEW_YORK, LONDON))

    assert earliest == datetime(2026, 12, 4, 9, 0, tzinfo=NEW_YORK)


def test_date_line_crossing() -> None:
    """Kiritimati (UTC+14) is a day ahead of Pago Pago (UTC-11): each has its day."""
    kiritimati = ZoneInfo("Pacific/Kiritimati")
    pago_pago = ZoneInfo("Pacific/Pago_Pago")
    # Saturday 19:00 UTC is Sunday 09:00 in Kiritimati, Saturday 08:00 in Pago Pago.
    now = datetime(2026, 12, 5, 19, 0, tzinfo=UTC)

    kiritimati_next = window().earliest_open(now, (kiritimati,))
    pago_pago_next = window().earliest_open(now, (pago_pago,))

    assert kiritimati_next == datetime(2026, 12, 7, 9, 0, tzinfo=kiritimati)
    assert pago_pago_next == datetime(2026, 12, 5, 9, 0, tzinfo=pago_pago)


def test_zones_never_overlapping() -> None:
    """A two-hour window in zones twelve hours apart never opens in both."""
    short = window("09:00-11:00")
    now = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)

    assert short.earliest_open(now, (NEW_YORK, ZoneInfo("Asia/Shanghai"))) is None


@pytest.mark.parametrize(
    ("hours", "days", "message"),
    [
        ("9-20", WEEKDAYS, "must look like 09:00-20:00"),
        ("20:00-09:00", WEEKDAYS, "must end after they start"),
        ("09:00-20:00", ["funday"], "is not a weekday name"),
    ],
)
def test_window_parse_errors(hours: str, days: list[str], message: str) -> None:
    """Unreadable hours and day names raise ValueError with the reason."""
    with pytest.raises(ValueError, match=message):
        CallingWindow.parse(hours, days)


def test_zone_names() -> None:
    """IANA and Windows names give zones; others give None."""
    assert zone_from_name("Europe/London") == LONDON
    assert zone_from_name("Eastern Standard Time") == NEW_YORK
    assert zone_from_name("Mars/Olympus") is None


def test_zones_for_numbers() -> None:
    """A New Jersey number is in New York's zone and a London number in London's."""
    assert zones_for_number("+12015550123") == (NEW_YORK,)
    assert zones_for_number("+442079460456") == (LONDON,)


LEADS = """\
Name,Phone,Country,Zone
Ada,(201) 555-0123,US,
Alan,020 7946 0456,GB,
Grace,201 555 0124,US,Pacific Standard Time
Edsger,201 555 0125,US,Mars/Olympus
Barbara,201 555 0126,US,
"""


def write_config(folder: Path, extra: str = "", leads: str = LEADS) -> Config:
    """Write leads and a config with a calling window; return the loaded config."""
    (folder / "leads.csv").write_text(leads, encoding="utf-8")
    path = folder / "run.toml"
    path.write_text(
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
outbound_id = "{sandbox.DEMO_OUTBOUND_ID}"
sandbox = true

[output]
path = "out/results.xlsx"

{extra}
""",
        encoding="utf-8",
    )

    return load_config(path)


WINDOW = """
[calling_window]
hours = "09:00-20:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat"]
timezone_column = "Zone"
"""


class Runs:
    """Runs the pipeline at chosen times against one shared in-process sandbox."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.sandbox = sandbox.Sandbox(sandbox.SandboxSettings())

    def at(self, moment: datetime, **options: object) -> tuple[RunSummary, dict]:
        """Run once with the clock at `moment`; return the summary and rows."""
        summary = run(
            self.config,
            RunOptions(**options),  # type: ignore[arg-type]
            transport=self.sandbox.transport(),
            clock=lambda: moment,
        )
        return summary, read_results(self.config.output.path)

    def called_numbers(self) -> Counter[str]:
        """Count the sandbox's accepted calls by number."""
        return Counter(call.to for call in self.sandbox.calls)


def read_results(path: Path) -> dict[str, dict[str, object]]:
    """Return the Results rows by lead name."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook["Results"].iter_rows(values_only=True))
    workbook.close()
    header = [str(name) for name in rows[0]]

    return {str(row[0]): dict(zip(header, row, strict=False)) for row in rows[1:]}


def test_night_run_defers_everyone(tmp_path: Path) -> None:
    """At 02:00 in New York nobody is called and each lead has its earliest time."""
    runs = Runs(write_config(tmp_path, WINDOW))

    summary, rows = runs.at(datetime(2026, 12, 4, 2, 0, tzinfo=NEW_YORK))

    assert runs.called_numbers() == Counter()
    assert rows["Ada"]["status"] == "deferred"
    assert rows["Ada"]["reason"] == (
        "outside_calling_window: earliest call 2026-12-04 09:00 America/New_York"
    )
    assert rows["Alan"]["reason"] == (
        "outside_calling_window: earliest call 2026-12-04 09:00 Europe/London"
    )
    assert rows["Grace"]["reason"] == (
        "outside_calling_window: earliest call 2026-12-04 09:00 America/Los_Angeles"
    )
    assert summary.exit_code() == ExitCode.OK


def test_bad_zone_cell_rejected(tmp_path: Path) -> None:
    """A time-zone cell that names no zone rejects the lead."""
    runs = Runs(write_config(tmp_path, WINDOW))

    _, rows = runs.at(datetime(2026, 12, 4, 2, 0, tzinfo=NEW_YORK))

    assert rows["Edsger"]["status"] == "rejected"
    assert str(rows["Edsger"]["reason"]).startswith("timezone_unknown: ")


def test_london_open_new_york_closed(tmp_path: Path) -> None:
    """At 05:00 in New York (10:00 in London) only the UK lead is called."""
    runs = Runs(write_config(tmp_path, WINDOW))

    _, rows = runs.at(datetime(2026, 12, 4, 5, 0, tzinfo=NEW_YORK))

    assert runs.called_numbers() == Counter({"+442079460456": 1})
    assert rows["Alan"]["status"] == "called"
    assert rows["Ada"]["status"] == "deferred"


def test_morning_run_calls_the_rest_once(tmp_path: Path) -> None:
    """Runs at 05:00 and 09:05 in New York call every lead once between them."""
    runs = Runs(write_config(tmp_path, WINDOW))
    runs.at(datetime(2026, 12, 4, 5, 0, tzinfo=NEW_YORK))

    _, rows = runs.at(datetime(2026, 12, 4, 9, 5, tzinfo=NEW_YORK))

    assert set(runs.called_numbers().values()) == {1}
    assert len(runs.called_numbers()) == 3
    assert rows["Ada"]["status"] == "called"
    assert rows["Alan"]["status"] == "skipped"
    assert str(rows["Alan"]["reason"]).startswith("already_called")
    assert rows["Alan"]["request_id"]
    assert rows["Grace"]["status"] == "deferred"


def test_deferrals_queued_in_ledger(tmp_path: Path) -> None:
    """Deferred leads are queued in the ledger with their earliest call time."""
    import sqlite3

    config = write_config(tmp_path, WINDOW)
    Runs(config).at(datetime(2026, 12, 4, 2, 0, tzinfo=NEW_YORK))

    connection = sqlite3.connect(config.ledger_path())
    rows = dict(connection.execute("SELECT phone_e164, earliest_at FROM deferrals"))
    connection.close()

    assert rows["+12015550123"] == "2026-12-04T14:00:00+00:00"
    assert rows["+442079460456"] == "2026-12-04T09:00:00+00:00"


def test_sample_data_at_night_and_morning(tmp_path: Path) -> None:
    """The sample export: nobody at 02:00 in New York, US leads at 09:05, none twice."""
    config_text = (ROOT / "config" / "demo.toml").read_text(encoding="utf-8")
    config_text = config_text.replace(
        '"../sample_data/leads.csv"', f'"{ROOT / "sample_data" / "leads.csv"}"'
    )
    config_text = config_text.replace(
        '"../results/demo-results.xlsx"', f'"{tmp_path / "results.xlsx"}"'
    )
    path = tmp_path / "demo.toml"
    path.write_text(config_text + WINDOW.replace('timezone_column = "Zone"\n', ""))
    runs = Runs(load_config(path))

    _, night = runs.at(datetime(2026, 12, 4, 2, 0, tzinfo=NEW_YORK))
    night_calls = sum(runs.called_numbers().values())
    _, morning = runs.at(datetime(2026, 12, 4, 9, 5, tzinfo=NEW_YORK))

    deferred = [row for row in night.values() if row["status"] == "deferred"]
    assert night_calls == 0
    assert len(deferred) > 150
    assert all("earliest call 2026-12-04 09:00" in str(r["reason"]) for r in deferred)
    us_called = [n for n in runs.called_numbers() if n.startswith("+1")]
    assert len(us_called) > 80
    assert set(runs.called_numbers().values()) == {1}
    assert len(morning) == len(night)


DO_NOT_CALL = """\
Phone,Country
+1 201 555 0123,
(201) 555-0126,
020 7946 0456,GB
"""


def test_do_not_call_any_format(tmp_path: Path) -> None:
    """Listed numbers are never sent, however the list and the leads write them."""
    (tmp_path / "dnc.csv").write_text(DO_NOT_CALL, encoding="utf-8")
    config = write_config(
        tmp_path, '[do_not_call]\npath = "dnc.csv"\ncountry_column = "Country"\n'
    )
    runs = Runs(config)

    _, rows = runs.at(datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK))

    for name in ("Ada", "Alan", "Barbara"):
        assert rows[name]["status"] == "skipped"
        assert str(rows[name]["reason"]).startswith("do_not_call: ")
    assert "+12015550123" not in runs.called_numbers()
    assert "+442079460456" not in runs.called_numbers()
    assert "+12015550126" not in runs.called_numbers()
    assert rows["Grace"]["status"] == "called"


@pytest.mark.parametrize(
    ("cell", "blocked"),
    [
        ("2015550124.0", ["+12015550124"]),
        ("201-555-0124 / 201-555-0125", ["+12015550124", "+12015550125"]),
        ("+1 201 555 0124 ext. 7", ["+12015550124"]),
    ],
)
def test_do_not_call_cell_forms(cell: str, blocked: list[str], tmp_path: Path) -> None:
    """Excel floats, several numbers and extensions in a list cell are all blocked."""
    (tmp_path / "dnc.csv").write_text(f'Phone\n"{cell}"\n', encoding="utf-8")
    config = write_config(tmp_path, '[do_not_call]\npath = "dnc.csv"\n')

    listed = load_do_not_call(config.do_not_call, "US")

    assert sorted(listed.numbers) == blocked


@pytest.mark.parametrize(
    "cell", ["(201) 555-0157 cell", "0044 20 7946 0456", "020 7946 0151"]
)
def test_do_not_call_unclear_cell_stops(cell: str, tmp_path: Path) -> None:
    """A list cell the lead reader would not accept stops the run: exit code 2."""
    (tmp_path / "dnc.csv").write_text(f"Phone\n{cell}\n", encoding="utf-8")
    config = write_config(tmp_path, '[do_not_call]\npath = "dnc.csv"\n')

    with pytest.raises(InputError, match="not valid phone numbers: 2 ") as caught:
        load_do_not_call(config.do_not_call, "US")

    assert caught.value.exit_code == ExitCode.USAGE


def test_do_not_call_prefix(tmp_path: Path) -> None:
    """A listed prefix blocks every number that starts with it."""
    config = write_config(tmp_path, '[do_not_call]\nprefixes = ["+44 20"]\n')
    runs = Runs(config)

    _, rows = runs.at(datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK))

    assert rows["Alan"]["reason"] == (
        "do_not_call: the number starts with the do-not-call prefix +4420"
    )
    assert "+442079460456" not in runs.called_numbers()


def test_do_not_call_unreadable_entry(tmp_path: Path) -> None:
    """A list entry that is not a phone number stops the run before any call."""
    (tmp_path / "dnc.csv").write_text("Phone\nnot a number\n", encoding="utf-8")
    config = write_config(tmp_path, '[do_not_call]\npath = "dnc.csv"\n')
    runs = Runs(config)

    with pytest.raises(InputError, match="not valid phone numbers: 2 "):
        runs.at(datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK))

    assert runs.called_numbers() == Counter()


def test_rejected_share_guard(tmp_path: Path) -> None:
    """Too many rejected rows stop the run before the first call, exit code 6."""
    leads = "Name,Phone,Country\nA,201 555 0123,US\nB,nope,US\nC,also no,US\n"
    config = write_config(tmp_path, "[guards]\nmax_rejected_share = 0.5\n", leads)
    runs = Runs(config)

    summary, rows = runs.at(datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK))

    assert runs.called_numbers() == Counter()
    assert summary.exit_code() == ExitCode.GUARD
    assert str(rows["A"]["reason"]).startswith("rejected_share: 67% of the rows")


def test_day_limit_guard(tmp_path: Path) -> None:
    """With the day's calls used up, the next run calls nobody and exits 6."""
    config = write_config(tmp_path, "[guards]\nmax_calls_per_day = 2\n")
    runs = Runs(config)
    first, _ = runs.at(datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK))
    extra = tmp_path / "more.csv"
    extra.write_text("Name,Phone,Country\nZed,201 555 0150,US\n", encoding="utf-8")

    second, rows = runs.at(
        datetime(2026, 12, 4, 13, 0, tzinfo=NEW_YORK), input_path=extra
    )

    assert sum(runs.called_numbers().values()) == 2
    assert first.exit_code() == ExitCode.GUARD
    assert second.exit_code() == ExitCode.GUARD
    assert str(rows["Zed"]["reason"]).startswith("day_limit: ")


def test_day_limit_resets_next_day(tmp_path: Path) -> None:
    """The next UTC day has a fresh allowance."""
    config = write_config(tmp_path, "[guards]\nmax_calls_per_day = 2\n")
    runs = Runs(config)
    day_one = datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK)
    runs.at(day_one)

    runs.at(day_one + timedelta(days=1))

    assert sum(runs.called_numbers().values()) == 4


def test_canary_places_first_calls(tmp_path: Path) -> None:
    """A canary run places the first N calls, holds back the rest, exits 6."""
    runs = Runs(write_config(tmp_path))

    summary, rows = runs.at(
        datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK), canary_calls=1
    )

    assert sum(runs.called_numbers().values()) == 1
    assert rows["Ada"]["status"] == "called"
    assert str(rows["Alan"]["reason"]).startswith("canary: ")
    assert summary.exit_code() == ExitCode.GUARD


def test_do_not_call_workbook(tmp_path: Path) -> None:
    """A do-not-call workbook with a number stored as a number blocks that lead."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Phone"])
    sheet.append([2015550124])
    workbook.save(tmp_path / "dnc.xlsx")
    config = write_config(tmp_path, '[do_not_call]\npath = "dnc.xlsx"\n')
    runs = Runs(config)

    _, rows = runs.at(datetime(2026, 12, 4, 12, 0, tzinfo=NEW_YORK))

    assert str(rows["Grace"]["reason"]).startswith("do_not_call: ")
    assert "+12015550124" not in runs.called_numbers()


@pytest.mark.parametrize("name", ["demo.toml", "nightly.example.toml"])
def test_shipped_configs_load(name: str) -> None:
    """The configs in config/ are valid."""
    config = load_config(ROOT / "config" / name)

    assert config.nlpearl.outbound_id


def test_earliest_call_time_in_workbook(tmp_path: Path) -> None:
    """A deferred lead's earliest call time is written in UTC."""
    runs = Runs(write_config(tmp_path, WINDOW))

    _, rows = runs.at(datetime(2026, 12, 4, 2, 0, tzinfo=NEW_YORK))

    assert rows["Ada"]["earliest_call_at"] == "2026-12-04T14:00:00Z"
    assert rows["Alan"]["earliest_call_at"] == "2026-12-04T09:00:00Z"
    assert rows["Ada"]["called_at"] is None


def test_window_closing_mid_run_defers(tmp_path: Path) -> None:
    """Calls still waiting when the window closes are deferred, not placed."""
    leads = "Name,Phone,Country\n" + "".join(
        f"L{n},201 555 01{n:02d},US\n" for n in range(30, 40)
    )
    config = write_config(
        tmp_path, WINDOW.replace('timezone_column = "Zone"\n', ""), leads
    )
    config = config.model_copy(
        update={"nlpearl": config.nlpearl.model_copy(update={"concurrency": 1})}
    )
    fake = sandbox.Sandbox(sandbox.SandboxSettings())
    ticks = iter(range(10_000))

    def clock() -> datetime:
        """Start at 19:59 in New York and move 10 s on each reading."""
        start = datetime(2026, 12, 4, 19, 59, tzinfo=NEW_YORK)
        return start + timedelta(seconds=10 * next(ticks))

    run(config, RunOptions(), transport=fake.transport(), clock=clock)

    rows = read_results(config.output.path)
    called = [name for name, row in rows.items() if row["status"] == "called"]
    deferred = [row for row in rows.values() if row["status"] == "deferred"]
    assert 0 < len(called) < 10
    assert len(called) + len(deferred) == 10
    assert len(fake.calls) == len(called)
    assert "closed during the run" in str(deferred[0]["reason"])
    assert deferred[0]["earliest_call_at"] == "2026-12-05T14:00:00Z"


def test_zone_name_any_case() -> None:
    """An IANA name written in another case still names its zone."""
    assert zone_from_name("america/new_york") == NEW_YORK
