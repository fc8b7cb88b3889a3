"""Bundle versions: a new version put in place atomically, the previous ones kept for rollback.

Layout. The bundle path stays the bundle directory every reader knows (``load_bundle(BUNDLE)``, the
config's ``bundle =``); the versions it replaced sit beside it::

    BUNDLE/                 the current version (its manifest's provenance.version, 1 when absent)
    BUNDLE.history/
        VIGIL-HISTORY       marker: this folder is vigil's (a folder without it is never touched)
        1/  2/ ...          earlier versions, each a whole bundle, named by its version

Switching (a learned version, a rollback) swaps two directories with one ``renameat2(RENAME_EXCHANGE)``
(Linux >= 3.15), so BUNDLE is at every instant a whole bundle, old or new; then the version it replaced
is renamed into the history under its number. Where the exchange is not supported (another OS, some
file systems) it falls back to two renames, leaving BUNDLE absent for the instant between them.
Nothing is ever deleted.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile
from pathlib import Path
from typing import Any

from edge.bundle.loader import Bundle, load_bundle
from edge.bundle.manifest import Manifest
from edge.errors import BundleError

MARKER = "VIGIL-HISTORY"
_RENAME_EXCHANGE = 2


def history_dir(bundle_path: Path) -> Path:
    return bundle_path.with_name(bundle_path.name + ".history")


def version_of(manifest: Manifest) -> int:
    value = manifest.provenance.get("version", 1)
    return value if isinstance(value, int) and value >= 1 else 1


def how_made(manifest: Manifest) -> str:
    """"learned" (a gateway's learning period), "calibrated" (`vigil calibrate`) or "trained"."""
    if manifest.provenance.get("learned"):
        return "learned"
    source = manifest.calibration.source if manifest.calibration is not None else None
    return "calibrated" if source and source.startswith("vigil calibrate") else "trained"


def _history(bundle_path: Path, create: bool = False) -> Path:
    """The bundle's history folder, checked to be vigil's (created with its marker when asked)."""
    folder = history_dir(bundle_path)
    if folder.exists() and not (folder / MARKER).is_file():
        raise BundleError(f"{folder}: exists and was not written by vigil (no {MARKER} in it); expected vigil's "
                          "history of the bundle's versions: move it away")
    if create and not folder.exists():
        folder.mkdir()
        (folder / MARKER).write_text("Earlier versions of the bundle beside this folder, kept by vigil for "
                                     "`vigil bundle rollback`.\n")
    return folder


def versions(bundle_path: Path) -> tuple[Bundle, dict[int, Bundle]]:
    """The current bundle and the earlier versions kept (by number); each verified as the gateway loads it."""
    current = load_bundle(bundle_path)
    folder = _history(bundle_path)
    kept = {}
    if folder.exists():
        for entry in folder.iterdir():
            if entry.is_dir() and entry.name.isdigit():
                kept[int(entry.name)] = load_bundle(entry)
    return current, dict(sorted(kept.items()))


def next_version(bundle_path: Path) -> int:
    current, kept = versions(bundle_path)
    return 1 + max([version_of(current.manifest), *kept])


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories atomically (renameat2 RENAME_EXCHANGE), or by two renames where unsupported."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        errno = ctypes.get_errno()
        if errno not in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: no exchange here, fall back
            raise OSError(errno, os.strerror(errno), str(a))
    aside = Path(tempfile.mkdtemp(prefix=f".{b.name}.swap-", dir=b.parent))
    aside.rmdir()
    b.rename(aside)
    a.rename(b)
    aside.rename(a)


def switch(bundle_path: Path, incoming: Path) -> Path:
    """Put the bundle directory ``incoming`` (on the same file system, a whole verified bundle) at
    bundle_path; the version it replaces goes into the history under its number. Returns that path."""
    current = load_bundle(bundle_path)  # refuses a folder that is not a vigil bundle, before anything moves
    folder = _history(bundle_path, create=True)
    kept = folder / str(version_of(current.manifest))
    if kept.exists():
        raise BundleError(f"{kept}: version {kept.name} is already kept (expected each version once); the "
                          f"current bundle {bundle_path} says it is version {kept.name} too")
    load_bundle(incoming)
    _exchange(incoming, bundle_path)
    incoming.rename(kept)
    return kept


def rollback(bundle_path: Path, to: int | None = None) -> tuple[int, int]:
    """Make a kept version current again (default: the highest below the current one); the current one is
    kept in its place. Returns (version left, version restored)."""
    current, kept = versions(bundle_path)
    now = version_of(current.manifest)
    if to is None:
        lower = [v for v in kept if v < now]
        if not lower:
            raise BundleError(f"{bundle_path}: version {now} has no earlier version kept in "
                              f"{history_dir(bundle_path)} (expected one to roll back to)")
        to = max(lower)
    if to not in kept:
        raise BundleError(f"--to {to}: no such version kept for {bundle_path} (kept: "
                          f"{', '.join(map(str, kept)) or 'none'})")
    switch(bundle_path, history_dir(bundle_path) / str(to))
    return now, to


def describe(bundle: Bundle, current: bool) -> dict[str, Any]:
    """One version's line of `vigil bundle history`: number, when, how made, windows used, thresholds."""
    m = bundle.manifest
    learned = m.provenance.get("learned") or {}
    members = [p for p in (m.training.get("members") or {}).values() if isinstance(p, dict)]
    windows = learned.get("windows") if learned else m.training.get("windows") or next(
        (p["windows"] for p in members if "windows" in p), None)
    when = m.provenance.get("created") or (m.calibration.date if m.calibration is not None else None)
    if how_made(m) == "calibrated" and m.calibration is not None:
        when = m.calibration.date or when
    return {"version": version_of(m), "current": current, "when": when, "how": how_made(m),
            "windows": windows, "default_variant": m.default_variant,
            "thresholds": {v: e.threshold.to_json() for v, e in m.models.items()}}
