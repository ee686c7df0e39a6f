from datetime import timedelta

import pytest

from flows.schedule import describe_schedule, parse_interval, schedule_for


@pytest.mark.parametrize(
    "text, expected",
    [("10s", timedelta(seconds=10)), ("15m", timedelta(minutes=15)), ("1h", timedelta(hours=1)), ("1.5h", timedelta(minutes=90)), (" 2 D ", timedelta(days=2))],
)
def test_intervals_are_a_number_and_a_unit(text, expected):
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["10", "m", "ten minutes", "-5s", "0s", "0.5s", "10w", "1h30m"])
def test_anything_else_is_refused_with_an_example(text):
    with pytest.raises(ValueError, match=r"is not an interval: give a number and a unit s, m, h or d .* e\.g\. 10s or 15m"):
        parse_interval(text)


def test_an_interval_becomes_prefects_interval_schedule_and_the_default_is_every_15_minutes():
    every = schedule_for(every=timedelta(seconds=10))
    assert (every.interval, every.cron) == (timedelta(seconds=10), None)
    assert describe_schedule(every) == "every 10s"
    assert describe_schedule(schedule_for(every=timedelta(hours=1))) == "every 1h"
    assert describe_schedule(schedule_for()) == "cron '*/15 * * * *'"


def test_cron_and_interval_together_or_a_bad_cron_are_refused():
    with pytest.raises(ValueError, match="not both"):
        schedule_for(cron="* * * * *", every=timedelta(minutes=1))
    with pytest.raises(ValueError, match='Invalid cron string: "every minute"'):
        schedule_for(cron="every minute")
