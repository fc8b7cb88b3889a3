"""One root exception for vigil and small subclasses that carry the bad value.

The CLI turns any :class:`VigilError` into a one-line message and a non-zero exit, so every
message must say what was found and what was expected, naming the file, field or value.
"""

from __future__ import annotations


class VigilError(Exception):
    """Root of every error vigil reports to a user (one line, no traceback)."""


class InputFileError(VigilError):
    """A recording is missing, unreadable, truncated or not in the expected format."""


class BundleError(VigilError):
    """A model bundle is missing, corrupt, of an unknown format version or inconsistent."""


class ConfigError(VigilError):
    """A command-line option or configuration value is out of its allowed range."""


class MissingExtraError(VigilError):
    """An optional dependency (an install extra) is needed for this command."""


class DeviceError(VigilError):
    """A device refused or broke the contract (channel layout changed, wrong rate): carries its address."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"device {address}: {reason}")
        self.address = address
        self.reason = reason
