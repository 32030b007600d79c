"""Durations as flows write them: ``30s``, ``10m``, ``2h``, ``1d``, or combined (``1h30m``)."""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration"]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WHOLE = re.compile(r"^(?:\d+[smhd])+$")
_PART = re.compile(r"(\d+)([smhd])")


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration. A bare number is seconds.

    >>> parse_duration("10m"), parse_duration("1h30m"), parse_duration(45)
    (600.0, 5400.0, 45.0)
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"not a duration: {text!r}; write it like 30s, 10m, 2h, 1d or 1h30m")
    if isinstance(text, int | float):
        seconds = float(text)
        if not math.isfinite(seconds):  # YAML's .inf and .nan
            raise ValueError(f"not a duration: {text!r}; write it like 30s, 10m, 2h, 1d or 1h30m")
    else:
        compact = text.strip().replace(" ", "")
        if not _WHOLE.match(compact):
            raise ValueError(f"bad duration {text!r}: write it like 30s, 10m, 2h, 1d or 1h30m")
        seconds = float(sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(compact)))
    if seconds <= 0:
        raise ValueError(f"a duration must be longer than zero, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest flow spelling of a whole number of seconds.

    >>> format_duration(5400), format_duration(90061)
    ('1h30m', '1d1h1m1s')
    """
    remaining = int(seconds)
    parts = []
    for unit, size in sorted(_UNIT_SECONDS.items(), key=lambda item: -item[1]):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
