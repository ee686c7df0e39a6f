"""Find publication dates written in running text or metadata, in several languages.

Results are naive datetimes; when the text names a zone (offset or a common abbreviation
such as WIB or EST) the time is converted to UTC first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_MONTH_NAMES = {
    1: "january jan januari janvier janv januar jän enero ene janeiro gennaio gen",
    2: "february feb februari février févr fevrier februar febrero fevereiro fev febbraio",
    3: "march mar maret mars märz marz marzo março marco maart",
    4: "april apr avril abril abr aprile",
    5: "may mei mai mayo maio maggio mag",
    6: "june jun juni juin junio junho giugno giu",
    7: "july jul juli juillet juil julio julho luglio lug",
    8: "august aug agustus ogos agt agu août aout agosto ago augustus",
    9: "september sep sept septembre setiembre septiembre set setembro settembre",
    10: "october oct oktober okt octobre octubre outubro out ottobre ott",
    11: "november nov nopember novembre noviembre novembro",
    12: "december dec desember disember des décembre decembre dezember dez diciembre dic dezembro dicembre",
}
MONTHS: dict[str, int] = {name: number for number, names in _MONTH_NAMES.items() for name in names.split()}

# Hours east of UTC for zone abbreviations that news sites print next to times.
ZONE_OFFSETS: dict[str, float] = {
    "utc": 0, "gmt": 0, "z": 0, "wib": 7, "wita": 8, "wit": 9, "ict": 7, "sgt": 8, "myt": 8,
    "hkt": 8, "pht": 8, "cst": -6, "cdt": -5, "est": -5, "edt": -4, "mst": -7, "mdt": -6,
    "pst": -8, "pdt": -7, "cet": 1, "cest": 2, "bst": 1, "eet": 2, "eest": 3, "jst": 9, "kst": 9,
    "ist": 5.5, "aest": 10, "aedt": 11, "msk": 3,
}

_MONTH = "(?P<month>" + "|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True)) + r")\.?"
_ZONE = r"(?P<zone>[+-]\d{2}:?\d{2}|(?:" + "|".join(sorted(ZONE_OFFSETS, key=len, reverse=True)) + r")\b)"
_TIME = (
    r"(?:\s*[,|\-–]?\s*(?:(?:at|pukul|jam|um|à|às|a las|alle|om)\s*)?"
    r"(?P<hour>\d{1,2})[:.h](?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?"
    r"\s*(?:\(?" + _ZONE + r"\)?)?)?"
)

DATE_PATTERNS = [
    re.compile(
        r"\b(?P<year>(?:19|20)\d{2})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
        r"(?:[T ](?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\.\d+)?\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?)?",
        re.I,
    ),
    re.compile(r"(?P<year>(?:19|20)\d{2})\s*[年년]\s*(?P<month>\d{1,2})\s*[月월]\s*(?P<day>\d{1,2})\s*[日일]?"
               r"(?:\s*(?P<hour>\d{1,2})\s*[:時시]\s*(?P<minute>\d{2}))?"),
    re.compile(r"\b(?P<year>(?:19|20)\d{2})[/.](?P<month>\d{1,2})[/.](?P<day>\d{1,2})\b" + _TIME, re.I),
    re.compile(r"\b(?P<first>\d{1,2})[/.\-](?P<second_num>\d{1,2})[/.\-](?P<year>(?:19|20)\d{2})\b" + _TIME, re.I),
    re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th|er|º)?\.?\s+(?:de\s+)?" + _MONTH + r",?\s+(?:de\s+)?(?P<year>(?:19|20)\d{2})\b" + _TIME, re.I),
    re.compile(r"\b" + _MONTH + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>(?:19|20)\d{2})\b" + _TIME, re.I),
]


@dataclass(frozen=True)
class DateMention:
    value: datetime
    start: int
    end: int


def _zone_offset(zone: str | None) -> timedelta | None:
    if not zone:
        return None
    zone = zone.strip().lower()
    if zone in ZONE_OFFSETS:
        return timedelta(hours=ZONE_OFFSETS[zone])
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", zone)
    if not match:
        return None
    sign = 1 if match.group(1) == "+" else -1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))


def _build(groups: dict[str, str | None]) -> datetime | None:
    year = int(groups["year"])
    if groups.get("first"):
        first, second = int(groups["first"]), int(groups["second_num"])
        day, month = (second, first) if second > 12 >= first else (first, second)
    else:
        day = int(groups["day"])
        month_text = groups["month"]
        month = int(month_text) if month_text.isdigit() else MONTHS.get(month_text.lower().rstrip("."), 0)
    hour = int(groups.get("hour") or 0)
    minute = int(groups.get("minute") or 0)
    second = int(groups.get("second") or 0)
    ampm = (groups.get("ampm") or "").lower().replace(".", "")
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    try:
        value = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    offset = _zone_offset(groups.get("zone"))
    if offset is not None:
        value = value - offset
    return value


def find_dates(text: str) -> list[DateMention]:
    """Every date written in `text`, in reading order (overlapping matches dropped)."""
    found: list[DateMention] = []
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(m.start < match.end() and match.start() < m.end for m in found):
                continue
            value = _build(match.groupdict())
            if value is not None:
                found.append(DateMention(value, match.start(), match.end()))
    return sorted(found, key=lambda m: m.start)


def first_date(text: str) -> datetime | None:
    mentions = find_dates(text)
    return mentions[0].value if mentions else None


def parse_iso_datetime(text: str | None) -> datetime | None:
    """Metadata timestamps (ISO 8601 and near relatives) to a naive UTC datetime."""
    if not text:
        return None
    text = text.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return first_date(text)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def strip_dates(text: str) -> str:
    """`text` with every date mention and bare clock time removed (to spot date-only lines)."""
    for mention in reversed(find_dates(text)):
        text = text[: mention.start] + " " + text[mention.end :]
    return re.sub(r"\b\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?", " ", text, flags=re.I)
