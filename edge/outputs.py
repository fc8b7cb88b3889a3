"""Where `--out` and `--report` may write: never over anything vigil did not write.

A command's output folder must be absent, empty, or a vigil output of the same kind (a bundle,
a folder of bundles, a report, a folder of C headers). An existing vigil output is replaced only
with ``--force``, and only once the new one is complete (``staged_dir``); a folder holding anything
else (``thesis.txt``, ``sub/``) is refused, naming it and what it holds. Output files
(``simulate --out``, ``features --out``) are replaced only with ``--force``, and never a folder.
Every check runs at the command level, before any slow work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edge.errors import ConfigError

MANIFEST = "manifest.json"
# entries a vigil output of each kind may hold (file suffixes; folders are checked recursively)
_NOUN = {"bundle": "vigil bundle", "report": "vigil report", "headers": "set of vigil C headers"}
_SUFFIXES = {
    "bundle": (".tflite", ".json", ".npz"),  # .npz: members refitted on the gateway
    "report": (".md", ".json", ".png", ".csv"),
    "headers": (".h",),
}


_TERMINATED: list[int] = []  # the signal that asked a command to stop, once it arrived


def terminated(signum: int) -> None:
    """SIGTERM (kill, timeout, a closed session) ends a command as Ctrl-C does: staging folders beside --out
    and clips cut into the temporary folder are removed on the way out. The SystemExit raised here can be
    swallowed when the signal lands inside a C extension's callback (TensorFlow turns it into a SystemError
    it handles), so it is remembered and raised again at the next output step (``stop_if_terminated``)."""
    _TERMINATED.append(signum)
    raise SystemExit(128 + signum)


def stop_if_terminated() -> None:
    """Raise the remembered SystemExit, if a stop was asked and swallowed: before writing or committing."""
    if _TERMINATED:
        raise SystemExit(128 + _TERMINATED[0])


def _is_bundle(path: Path) -> bool:
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "format_version" in manifest and "models" in manifest


def _is_kind(path: Path, kind: str) -> bool:
    """True when the folder carries the signature of a vigil output of this kind."""
    if kind == "bundle":
        return _is_bundle(path) or any(p.is_dir() and _is_bundle(p) for p in path.iterdir())
    if kind == "report":
        return (path / "report.md").is_file()
    return any(p.name.startswith("vigil_") and p.suffix == ".h" for p in path.iterdir())


def _foreign(path: Path, kind: str) -> list[str]:
    """Entries under `path` (relative names) that a vigil output of `kind` never holds."""
    found = []
    for entry in sorted(path.iterdir()):
        if entry.is_symlink() or not (entry.is_file() or entry.is_dir()):
            found.append(entry.name)
        elif entry.is_dir():
            inner = _foreign(entry, kind) if kind != "headers" else ["*"]
            found += [f"{entry.name}/" if name == "*" else f"{entry.name}/{name}" for name in inner]
            if kind == "bundle" and not inner and not _is_bundle(entry) and any(entry.iterdir()):
                found.append(f"{entry.name}/")
        elif entry.suffix not in _SUFFIXES[kind]:
            found.append(entry.name)
    return found


def check_writable(path: Path, option: str = "--out") -> None:
    """Refuse (ConfigError) an output path vigil could not create or replace: the nearest existing
    folder above it (and the path itself, if it exists) must be writable, checked before any slow work."""
    above = next((p for p in path.absolute().parents if p.exists()), None)
    for place in ([above] if above is not None else []) + ([path] if path.exists() else []):
        if not os.access(place, os.W_OK | (os.X_OK if place.is_dir() else 0)):
            why = "on a read-only file system" if os.statvfs(place).f_flag & os.ST_RDONLY else \
                "not writable by this user"
            raise ConfigError(f"{option} {path}: {place} is {why}; expected a folder vigil may write in")


def check_dir(path: Path, kind: str, *, force: bool, option: str = "--out") -> None:
    """Refuse (ConfigError) unless `path` may receive a vigil `kind` ("bundle", "report", "headers").

    Allowed: absent (its parent folder must exist or be creatable), empty, or a vigil output of
    this kind (only with force). Nothing is removed here.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option} {path}: is a file; expected a folder for the {_NOUN[kind]}")
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise ConfigError(f"{option} {path}: {parent} is a file; expected a folder")
        check_writable(path, option)
        return
    check_writable(path, option)
    if not any(path.iterdir()):
        return
    foreign = _foreign(path, kind)
    if foreign or not _is_kind(path, kind):
        listed = ", ".join(foreign[:4] or sorted(p.name for p in path.iterdir())[:4])
        more = len(foreign) - 4
        raise ConfigError(f"{option} {path}: folder holds files that are not a {_NOUN[kind]} ({listed}"
                          f"{f' and {more} more' if more > 0 else ''}); expected an empty or new folder, "
                          "nothing was changed")
    if not force:
        raise ConfigError(f"{option} {path}: holds a {_NOUN[kind]}; pass --force to replace it, "
                          "or name a new folder")


def check_file(path: Path, *, force: bool, option: str = "--out", what: str = "file") -> None:
    """Refuse (ConfigError) a path that is a folder, whose folder is missing, or that exists without force."""
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; expected a {what} path")
    if not path.parent.is_dir():
        state = "is a file" if path.parent.exists() else "does not exist"
        raise ConfigError(f"{option} {path}: folder {path.parent} {state}; expected an existing folder")
    if path.exists() and not force:
        raise ConfigError(f"{option} {path}: file exists; pass --force to replace it")
    check_writable(path, option)


def as_mkdir(folder: Path) -> None:
    """Give a folder made by tempfile.mkdtemp (0700) the permissions mkdir gives (umask applied), so a
    service running as another user can read the output it becomes."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


@contextlib.contextmanager
def staged_dir(path: Path, kind: str, *, force: bool, option: str = "--out") -> Iterator[Path]:
    """A folder beside `path` to write a whole output into: when the block ends normally it takes
    `path`'s place (checked again; an old vigil output is moved aside, then removed), else it is removed
    and `path` is left as it was, so a failed run neither loses the old output nor leaves half a new one."""
    check_dir(path, kind, force=force, option=option)
    path = path.resolve() if path.is_symlink() else path  # a link to the output folder: replace its target
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    try:
        yield staging
        check_dir(path, kind, force=True, option=option)
        as_mkdir(staging)
        old = path.with_name(f".{path.name}.old-{staging.name}") if path.exists() else None
        if old is not None:
            path.rename(old)
        staging.rename(path)
        if old is not None:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
