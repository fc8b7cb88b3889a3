"""One root exception for vigil and small subclasses that carry the bad value.

The CLI turns any :class:`VigilError` into a one-line message and a non-zero exit, so every
message must say what was found and what was expected, naming the file, field or value.
"""

from __future__ import annotations

import errno


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


# errno values by which a file system refuses work on its files, and what the user can do about it
_FILE_SYSTEM = {
    errno.ENOSPC: ("no space left on the device", "room for the output"),
    errno.EDQUOT: ("disk quota exceeded", "room for the output"),
    errno.EFBIG: ("file larger than the file system or the process limit allows", "room for the output"),
    errno.EROFS: ("read-only file system", "a folder vigil may write in"),
    errno.EACCES: ("permission denied", "a file or folder this user may read and write"),
    errno.EPERM: ("operation not permitted", "a file or folder this user may read and write"),
}


def file_system_error(exc: BaseException, where: str | None = None) -> VigilError | None:
    """A file system refusing a read or write (full, read-only, no permission) as a one-line VigilError
    naming the file (else `where`, e.g. the --out value); None for any other exception."""
    if not isinstance(exc, OSError) or exc.errno not in _FILE_SYSTEM:
        return None
    found, expected = _FILE_SYSTEM[exc.errno]
    return VigilError(f"{exc.filename or where or 'output'}: {found}; expected {expected}")
