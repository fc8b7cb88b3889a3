"""How vigil words its output: counts with the right plural, numbers rounded for people, and
--help that shows every option's default."""

from __future__ import annotations

import argparse
from typing import Any


def plural(n: int, word: str, words: str | None = None) -> str:
    """'1 event', '3 events' (``words`` for irregular plurals)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def number(value: float | None, digits: int = 3) -> str:
    """A metric for people: 3 decimals by default, 'n/a' for None or NaN ('0.518' not '0.5180182729148246')."""
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}"


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Appends '(default: X)' to an option's help unless the help already states its default
    or the option has none worth showing (flags, required options, None)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("(default" in text or default in (None, False, argparse.SUPPRESS) or action.required
                or not action.option_strings or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class DefaultsParser(argparse.ArgumentParser):
    """An ArgumentParser whose --help shows every default, even of options given no help text."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(**kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.help is None and action.option_strings and action.nargs != 0:
            action.help = "(default: %(default)s)"  # argparse shows no help line at all for help=None
        return action
