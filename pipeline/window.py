"""Calling windows: local hours and weekdays in which a lead may be called.

A lead's time zones come from its time-zone cell (an IANA name such as
`America/New_York`, or a Windows name such as `Eastern Standard Time`, the
form NLPearl's outbound settings use), else from its number through
phonenumbers' time-zone data. When a number spans several zones, as a
toll-free number does, the window must be open in every one of them.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezones
from tzlocal.windows_tz import win_tz

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# How far ahead to look for an opening; a window open on at least one weekday
# opens within 7 days in every zone.
_HORIZON_DAYS = 8


@dataclass(frozen=True)
class CallingWindow:
    """Local hours [start, end) on the given weekdays (0 is Monday)."""

    start: time
    end: time
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, hours: str, days: Sequence[str]) -> CallingWindow:
        """Build a window from `"09:00-20:00"` and weekday names such as `"mon"`.

        Raises:
            ValueError: the hours or a day name cannot be read, or the window
                ends before it starts.
        """
        try:
            start_text, end_text = hours.split("-")
            start = time.fromisoformat(start_text.strip())
            end = time.fromisoformat(end_text.strip())
        except ValueError as error:
            raise ValueError(f"hours {hours!r} must look like 09:00-20:00") from error
        if start >= end:
            raise ValueError(f"hours {hours!r} must end after they start")

        weekdays = set()
        for day in days:
            name = day.strip().lower()[:3]
            if name not in WEEKDAYS:
                raise ValueError(f"day {day!r} is not a weekday name such as mon")
            weekdays.add(WEEKDAYS.index(name))

        return cls(start, end, frozenset(weekdays))

    def is_open(self, moment: datetime, zone: ZoneInfo) -> bool:
        """Return whether the window is open at `moment` in `zone`."""
        local = moment.astimezone(zone)

        return (
            local.weekday() in self.weekdays and self.start <= local.time() < self.end
        )

    def earliest_open(
        self, now: datetime, zones: Sequence[ZoneInfo]
    ) -> datetime | None:
        """Return the first moment from `now` at which every zone's window is open.

        Returns None when the zones' windows never overlap, such as a short
        window in two zones twelve hours apart.
        """
        if all(self.is_open(now, zone) for zone in zones):
            return now

        # The overlap of the zones' windows begins when the last of them opens,
        # so the candidates are the window starts in each zone.
        starts = sorted(
            start for zone in zones for start in self._starts(now, zone) if start > now
        )
        for start in starts:
            if all(self.is_open(start, zone) for zone in zones):
                return start

        return None

    def closes_after(self, now: datetime, zones: Sequence[ZoneInfo]) -> datetime:
        """Return when the window, open now in every zone, first closes in one."""
        return min(_at(now.astimezone(zone).date(), self.end, zone) for zone in zones)

    def _starts(self, now: datetime, zone: ZoneInfo) -> list[datetime]:
        today = now.astimezone(zone).date()
        days = (today + timedelta(days=offset) for offset in range(-1, _HORIZON_DAYS))

        return [
            _at(day, self.start, zone) for day in days if day.weekday() in self.weekdays
        ]


def _at(day: date, moment: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, moment, tzinfo=zone)


@functools.lru_cache(maxsize=1024)
def zone_from_name(name: str) -> ZoneInfo | None:
    """Return the zone of an IANA or Windows time-zone name, or None if unknown."""
    text = name.strip()
    if not text:
        return None
    text = win_tz.get(text, text)
    text = _zone_names_by_folded_name().get(text.casefold(), text)

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@functools.cache
def _zone_names_by_folded_name() -> dict[str, str]:
    """Map each IANA zone name in lower case to its real spelling."""
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


@functools.lru_cache(maxsize=65536)
def zones_for_number(e164: str) -> tuple[ZoneInfo, ...]:
    """Return the zones phonenumbers gives for a number; empty when unknown."""
    names = phone_timezones.time_zones_for_number(phonenumbers.parse(e164))
    zones = (zone_from_name(name) for name in names if name != "Etc/Unknown")

    return tuple(zone for zone in zones if zone is not None)
