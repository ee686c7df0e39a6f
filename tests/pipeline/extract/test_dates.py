from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.extract.dates import find_dates, first_date, parse_iso_datetime, strip_dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Selasa (27/10/2025). Pertemuan", datetime(2025, 10, 27)),
        ("28 Okt 2025, 21:45 WIB", datetime(2025, 10, 28, 14, 45)),
        ("jueves, 09 enero 2014 - 10:21 h", datetime(2014, 1, 9, 10, 21)),
        ("Updated 4:48 PM EST, Mon November 6, 2023", datetime(2023, 11, 6)),
        ("March 3rd, 2024 at 5:30 pm EST", datetime(2024, 3, 3, 22, 30)),
        ("le 3 mars 2024 à 14h30", datetime(2024, 3, 3, 14, 30)),
        ("am 5. Dezember 2023", datetime(2023, 12, 5)),
        ("12 de março de 2022", datetime(2022, 3, 12)),
        ("2013年12月10日 14:30", datetime(2013, 12, 10, 14, 30)),
        ("2019년 8월 20일", datetime(2019, 8, 20)),
        ("12/31/2020", datetime(2020, 12, 31)),
        ("2023-11-06T12:30:00-05:00", datetime(2023, 11, 6, 17, 30)),
    ],
)
def test_first_date(text, expected):
    assert first_date(text) == expected


def test_impossible_and_absent_dates():
    assert first_date("31/02/2020") is None
    assert first_date("May 2020 was hot") is None
    assert find_dates("no dates here") == []


def test_parse_iso_datetime():
    assert parse_iso_datetime("2024-05-02T08:15:00+02:00") == datetime(2024, 5, 2, 6, 15)
    assert parse_iso_datetime("2024-05-02") == datetime(2024, 5, 2)
    assert parse_iso_datetime("Thu, 2 May 2024") == datetime(2024, 5, 2)
    assert parse_iso_datetime("garbage") is None
    assert parse_iso_datetime(None) is None


def test_strip_dates_leaves_the_words():
    assert strip_dates("Posted 12 March 2024, 10:30").strip() == "Posted"
