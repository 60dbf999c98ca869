"""Face encodings and registration times: validation, parsing and the wire format.

The server takes a face encoding as a JSON string holding an array of 128 numbers (what the desktop app sends) and
returns it unchanged, each number as the shortest text of the same float64 — which is what Python's ``repr`` and
``json.dumps`` write. Registration times travel as RFC 3339 strings; locally they are kept as integer milliseconds since
the Unix epoch (the server compares them at millisecond precision).

Nothing here logs: an encoding must never reach a log line.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Iterable, List, Optional, Sequence, Union

#: Numbers in a dlib / face_recognition encoding.
ENCODING_LENGTH = 128
#: The server refuses numbers with ``|x| >= 1e6``.
MAX_ABS_VALUE = 1_000_000.0
#: ``registered_at`` must lie between 2000-01-01 and 3000-01-01 (Unix milliseconds).
MIN_TIME_MS = 946_684_800_000
MAX_TIME_MS = 32_503_680_000_000

Encoding = List[float]
TimeLike = Union[datetime, str, int, float]

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:\d{2})$"
)


class EncodingError(ValueError):
    """An encoding that is not 128 finite numbers, each with ``|x| < 1,000,000``."""


def validate_encoding(values: Iterable[object]) -> Encoding:
    """Return ``values`` as a list of 128 floats, or raise :class:`EncodingError`.

    The message names the problem (count, position), never the numbers themselves.
    """
    if isinstance(values, (str, bytes)):
        raise EncodingError("expected a sequence of numbers, got text (use parse_encoding_text)")
    result: Encoding = []
    for index, value in enumerate(values):
        # bool is an int subclass and text converts with float(): neither is a number here. numpy scalars are accepted.
        if value is None or isinstance(value, (str, bytes, bool)):
            raise EncodingError(f"element {index} is not a number")
        try:
            number = float(value)  # type: ignore[arg-type]
        except OverflowError:  # an int too large for a float
            raise EncodingError(f"element {index} is out of range (|x| must be below 1,000,000)") from None
        except (TypeError, ValueError):
            raise EncodingError(f"element {index} is not a number") from None
        if not math.isfinite(number):
            raise EncodingError(f"element {index} is not finite")
        if abs(number) >= MAX_ABS_VALUE:
            raise EncodingError(f"element {index} is out of range (|x| must be below 1,000,000)")
        result.append(number)
    if len(result) != ENCODING_LENGTH:
        raise EncodingError(f"expected {ENCODING_LENGTH} numbers, got {len(result)}")
    return result


def encoding_to_text(values: Sequence[float]) -> str:
    """The wire form: a JSON array of the numbers, as the desktop app sends it (``"[-0.10644, 0.087149, …]"``)."""
    return json.dumps([float(v) for v in values])


def encoding_from_text(text: str) -> Encoding:
    """Parse the server's (or our own) JSON text of an encoding and validate it."""
    try:
        values = json.loads(text)
    except (TypeError, ValueError):
        raise EncodingError("the stored encoding is not a JSON array") from None
    if not isinstance(values, list):
        raise EncodingError("the stored encoding is not a JSON array")
    return validate_encoding(values)


def parse_encoding_text(text: str) -> Encoding:
    """Read an encoding from a file's text: a JSON list (or a JSON string holding one), or 128 numbers separated by
    commas and/or whitespace (brackets tolerated)."""
    stripped = text.strip()
    if not stripped:
        raise EncodingError("the file is empty")
    if stripped[0] in "[\"":
        try:
            value = json.loads(stripped)
        except ValueError:
            value = None
        if isinstance(value, str):
            return encoding_from_text(value)
        if isinstance(value, list):
            return validate_encoding(value)
    tokens = [t for t in re.split(r"[\s,\[\]]+", stripped) if t]
    numbers: Encoding = []
    for index, token in enumerate(tokens):
        try:
            numbers.append(float(token))
        except ValueError:
            raise EncodingError(f"element {index} is not a number") from None
    return validate_encoding(numbers)


# MARK: times


def now_ms() -> int:
    """The kiosk clock, UTC, in milliseconds."""
    return int(datetime.now(timezone.utc).timestamp() * 1000)


def parse_time_ms(text: str) -> int:
    """Parse an RFC 3339 time (``2026-12-01T12:09:44.000000Z``, any fraction, ``Z`` or an offset) into Unix ms."""
    match = _RFC3339.match(text.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if zone in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=tz)
    return _datetime_ms(moment)


def to_time_ms(value: TimeLike) -> int:
    """A registration time given by the caller — an aware ``datetime`` (a naive one is taken as the kiosk's local
    time), an RFC 3339 string, or Unix seconds — as Unix milliseconds within the server's 2000…3000 range."""
    if isinstance(value, datetime):
        result = _datetime_ms(value if value.tzinfo else value.astimezone())
    elif isinstance(value, str):
        result = parse_time_ms(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError("registered_at is out of range") from None
        if not math.isfinite(seconds):
            raise ValueError("registered_at is not finite")
        result = int(round(seconds * 1000))
    else:
        raise TypeError("registered_at must be a datetime, an RFC 3339 string or Unix seconds")
    if not MIN_TIME_MS <= result < MAX_TIME_MS:
        raise ValueError("registered_at must lie between 2000-01-01 and 3000-01-01")
    return result


def format_time_ms(ms: int) -> str:
    """Unix ms as the RFC 3339 text the contract recommends (``2026-12-01T12:09:44.000Z``)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def optional_time_ms(text: Optional[str]) -> Optional[int]:
    """``parse_time_ms`` for a value that may be ``null``."""
    return None if text is None else parse_time_ms(text)


def _datetime_ms(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
