"""DCASE naming of machine-sound clips, shared by training (labels, machine ids) and calibration
(refusing recordings of another machine): ``[<type>/...]normal_id_00_00000012.wav``."""

from __future__ import annotations

import os
import re
from pathlib import Path

MACHINE_TYPES = ("fan", "pump", "slider", "valve", "toycar", "toyconveyor")
DCASE_NAME = re.compile(r"^(normal|anomaly)_(id_\d+)?", re.IGNORECASE)


def recordings_in(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under root (any depth, linked folders followed once) with one of the suffixes, sorted; hidden
    ones skipped as the shell's `*` skips them: a name below root starting with "." (macOS `._clip.wav`
    resource forks on a USB stick, `.Trash`, `.git`)."""
    found, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):  # a linked folder (a USB stick's) is read
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree: walked once
            dirs.clear()
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(folder) / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in suffixes
                  and (Path(folder) / f).is_file()]
    return sorted(found)


def label_of(path: Path) -> int | None:
    """1 for anomaly_*, 0 for normal_*, None for any other name."""
    match = DCASE_NAME.match(path.name)
    return None if match is None else int(match.group(1).lower() == "anomaly")


def machine_id_of(path: Path) -> str | None:
    """"id_04" from a DCASE name, else None."""
    match = DCASE_NAME.match(path.name)
    return None if match is None or match.group(2) is None else match.group(2).lower()


def machine_type_of(path: Path, root: Path | None = None) -> str | None:
    """The folder named like a DCASE machine type on the path: below root the first one (else root itself
    when it is so named); without root the nearest one above the file."""
    parts = path.relative_to(root).parts[:-1] if root is not None else path.resolve().parts[-2::-1]
    found = next((p.lower() for p in parts if p.lower() in MACHINE_TYPES), None)
    if found is None and root is not None and root.name.lower() in MACHINE_TYPES:
        found = root.name.lower()
    return found
