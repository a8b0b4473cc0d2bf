"""ISO 8601 timestamps and durations as xAPI uses them (xAPI 1.0.3 Data 4.5 and 4.6; xAPI 2.0 4.2.7).

Timestamps are combined date and time representations, in the extended (`2015-11-18T12:17:00.5+01:00`) or the
basic (`20151118T121700Z`) format. Durations use the format with designators of ISO 8601:2004 4.4.3.2
(`P3Y1M29DT4H35M59.14S`, `P4W`); the alternative format `PYYYY-MM-DDThh:mm:ss` (4.4.3.3) is refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

# Extended format: hyphens in the date, colons in the time; minutes are the least a time may give.
_EXTENDED = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    [Tt]
    (?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
    (?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?   # +hh:mm, and +hhmm as many clients send it
    """,
    re.VERBOSE,
)

# Basic format: the same fields without separators.
_BASIC = re.compile(
    r"""
    (?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})
    [Tt]
    (?P<hour>\d{2})(?P<minute>\d{2})(?:(?P<second>\d{2})(?:[.,](?P<fraction>\d+))?)?
    (?P<zone>[Zz]|[+-]\d{2}(?:\d{2})?)?
    """,
    re.VERBOSE,
)

# The timestamps nearly every client sends (2015-11-18T12:17:00.000Z, +01:00): every field in range, a day every
# month has, a zone that is not -00:00. They need none of the checks of `timestamp_problem`; anything else gets them.
_EVIDENTLY_VALID = re.compile(
    r"""
    (?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])
    T
    (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?
    (?:Z|(?!-00:00)[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])
    """,
    re.VERBOSE,
)

# A number of one designator: digits with an optional decimal fraction ("0.5" or "0,5").
_N = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"P(?:(?P<Y>{_N})Y)?(?:(?P<M>{_N})M)?(?:(?P<D>{_N})D)?"
    rf"(?:(?P<T>T)(?:(?P<h>{_N})H)?(?:(?P<m>{_N})M)?(?:(?P<s>{_N})S)?)?"
)
_WEEKS = re.compile(rf"P{_N}W")


def timestamp_problem(value: str, *, zone_required: bool = False) -> str | None:
    """Why `value` is not an xAPI Timestamp (a sentence), or None when it is one."""
    if _EVIDENTLY_VALID.fullmatch(value):
        return None
    match = _EXTENDED.fullmatch(value) or _BASIC.fullmatch(value)
    if match is None:
        return "is not an ISO 8601 date and time such as 2015-11-18T12:17:00.000Z"
    fields = match.groupdict()
    try:
        # datetime checks the calendar (month lengths, leap years) and the clock (hours below 24, seconds below 60).
        datetime(int(fields["year"]), int(fields["month"]), int(fields["day"]))
        datetime(2000, 1, 1, int(fields["hour"]), int(fields["minute"]), int(fields["second"] or 0))
    except ValueError as exc:
        return f"is not a real date and time ({exc}); 24:00 and leap seconds are not accepted"
    zone = fields["zone"]
    if zone is None:
        return "has no time zone; add Z or an offset such as +01:00" if zone_required else None
    return _zone_problem(zone)


def _zone_problem(zone: str) -> str | None:
    """Why a time zone designator is wrong, or None."""
    if zone in ("Z", "z"):
        return None
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        return f"has an impossible time zone offset {zone}"
    if zone[0] == "-" and hours == 0 and minutes == 0:
        # ISO 8601 gives a zero offset a plus sign; RFC 3339 uses -00:00 for "offset unknown".
        return f"uses the offset {zone}, which ISO 8601 does not allow; use Z or +00:00"
    return None


def is_duration(value: str) -> bool:
    """Whether `value` is an ISO 8601 duration with designators: PnYnMnDTnHnMnS or PnW."""
    if _WEEKS.fullmatch(value):
        return True
    match = _DURATION.fullmatch(value)
    if match is None:
        return False
    numbers = [match[name] for name in ("Y", "M", "D", "h", "m", "s") if match[name] is not None]
    time_numbers = [match[name] for name in ("h", "m", "s") if match[name] is not None]
    if not numbers or (match["T"] and not time_numbers):
        return False  # "P" and "P1DT" say nothing
    # Only the lowest order component given may carry a decimal fraction.
    return not any(_has_fraction(number) for number in numbers[:-1])


def _has_fraction(number: str) -> bool:
    """Whether a duration number has a decimal fraction."""
    return "." in number or "," in number


def parse_timestamp(value: str) -> datetime | None:
    """The instant a valid xAPI Timestamp names (UTC when it gives no zone), or None when it is not one."""
    if _EVIDENTLY_VALID.fullmatch(value):  # what fromisoformat reads as the rest of this function does
        return datetime.fromisoformat(value).astimezone(UTC)
    if timestamp_problem(value) is not None:
        return None
    match = _EXTENDED.fullmatch(value) or _BASIC.fullmatch(value)
    if match is None:
        return None
    fields = match.groupdict()
    fraction = (fields["fraction"] or "0")[:6].ljust(6, "0")
    zone = fields["zone"]
    offset = timedelta(0)
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0)) * (-1 if zone[0] == "-" else 1)
    local = datetime(
        int(fields["year"]),
        int(fields["month"]),
        int(fields["day"]),
        int(fields["hour"]),
        int(fields["minute"]),
        int(fields["second"] or 0),
        int(fraction),
        tzinfo=timezone(offset),
    )
    return local.astimezone(UTC)
