"""Typed reads from one table (TOML config, JSON manifest), naming the key path in every error
(``streams[1].kind``, ``models.int8.threshold.window``).

Keys a table may hold are declared first (``expect``): a key nobody reads is refused by name, with
the closest known key suggested, before a misspelt required key could read as missing.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, VigilError

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_TOPIC_LEVEL = re.compile(r"^[^/+#\x00]{1,64}$")


def describe(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


class Table:
    """One table at ``where``; ``base`` resolves relative paths; errors are ``error`` (ConfigError)."""

    def __init__(self, table: Any, where: str, base: Path, error: type[VigilError] = ConfigError) -> None:
        if not isinstance(table, dict):
            raise error(f"{where or 'top level'}: expected a table, found {table!r}")
        self.table, self.where, self.base, self.error = table, where, base, error

    def table_at(self, key: str, default: Any = ...) -> Table:
        return Table(self.get(key, dict, default), self.key(key), self.base, self.error)

    def key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def expect(self, keys: set[str] | frozenset[str]) -> None:
        """Refuse any key outside ``keys``, naming it (and the closest known key)."""
        for key in sorted(set(self.table) - set(keys)):
            close = difflib.get_close_matches(key, sorted(keys), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.error(f"{self.where or 'top level'}: unknown key {key!r} (known: {', '.join(sorted(keys))}"
                              f"{hint})")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, choices: tuple[Any, ...] = ()) -> Any:
        path = self.key(key)
        if key not in self.table:
            if default is ...:
                raise self.error(f"{path}: missing (expected {describe(kind)})")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.error(f"{path}: {value!r} is not {describe(kind)}")
        if choices and value not in choices:
            raise self.error(f"{path}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def positive(self, key: str, default: float | int, kind: type = float) -> Any:
        """A number > 0 (an interval in s, a count, a size)."""
        value = self.get(key, (int, float) if kind is float else int, default)
        if value <= 0:
            noun = "number" if kind is float else "integer"
            raise self.error(f"{self.key(key)}: {value!r} (expected a positive {noun})")
        return kind(value)

    def path(self, key: str, default: Any = ...) -> Path | None:
        value = self.get(key, str, default)
        return None if value is None else resolve(self.base, value)

    def mac(self, key: str, value: str) -> str:
        if not _MAC.match(value):
            raise ConfigError(f"{self.key(key)}: {value!r} is not a Bluetooth address (expected six hex pairs "
                              "like C0:FF:EE:00:00:01)")
        return value.upper()

    def topic_level(self, key: str, default: Any = ...) -> str:
        """A name used as one MQTT topic level: 1-64 characters, none of / + # or NUL."""
        value = self.get(key, str, default)
        if not _TOPIC_LEVEL.match(value):
            raise ConfigError(f"{self.key(key)}: {value!r} cannot be an MQTT topic level (expected 1-64 characters, "
                              "none of '/', '+', '#')")
        return str(value)


def resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expandvars(value)).expanduser()
    return p if p.is_absolute() else (base / p).resolve()
