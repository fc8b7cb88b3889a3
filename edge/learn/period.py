"""The ``learn`` value of a stream: a duration such as "90s", "30m", "2h" or "1d"."""

from __future__ import annotations

import re

from edge.errors import ConfigError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_FORM = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")


def parse_duration(value: object, where: str) -> float:
    """Seconds (> 0) of a duration string; ConfigError naming ``where`` and the expected form."""
    match = _FORM.fullmatch(value.strip()) if isinstance(value, str) else None
    seconds = float(match.group(1)) * UNITS[match.group(2)] if match else 0.0
    if not seconds > 0:
        raise ConfigError(f"{where}: {value!r} (expected a duration above 0 such as \"90s\", \"30m\", \"2h\" or "
                          "\"1d\")")
    return seconds
