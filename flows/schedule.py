"""The schedule `newsflow serve` gives its deployment: a cron expression or a fixed interval.

Parsing needs no Prefect import, so the command line can reject a bad option before it starts
a server (Prefect reads its settings once, at import).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.schedules import Schedule

DEFAULT_CRON = "*/15 * * * *"

_INTERVAL_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_interval(text: str) -> timedelta:
    """'10s', '15m', '1h', '2d' (also '1.5h') -> timedelta; ValueError for anything else."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text.strip().lower())
    interval = timedelta(**{_INTERVAL_UNITS[match[2]]: float(match[1])}) if match else None
    if interval is None or interval < timedelta(seconds=1):
        raise ValueError(f"{text!r} is not an interval: give a number and a unit s, m, h or d of at least 1s, e.g. 10s or 15m")
    return interval


def schedule_for(*, cron: str | None = None, every: timedelta | None = None) -> "Schedule":
    """Prefect's interval schedule for `every`, else its cron schedule (default every 15 minutes)."""
    from prefect.schedules import Cron, Interval

    if cron and every:
        raise ValueError("choose either a cron schedule or an interval, not both")
    return Interval(every) if every else Cron(cron or DEFAULT_CRON)


def describe_schedule(schedule: "Schedule") -> str:
    if schedule.interval is None:
        return f"cron '{schedule.cron}'"
    seconds = schedule.interval.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"every {int(seconds // size)}{unit}"
    return f"every {seconds:g}s"
