"""The learn store: feature rows of a learning period, bounded, on disk, appended in blocks, resumable.

Layout of the store's folder (under the service's state directory, one per stream)::

    state.json         what was learned: dim, cap, stride, seconds learned, the block files, the bundle
    block-000001.npz   rows (m, dim) float32 in the features' units (before the bundle's standardization),
                       t (m,) float64: learned seconds at each row's window

Rows arrive in time order. Every ``stride``-th window offered is kept; when the kept rows pass ``cap``
every other kept row is dropped and the stride doubles, so the store always spans the whole period
evenly (time order kept: the refit's folds are contiguous time blocks). Rows wait in memory until a
block of ``block_rows`` is full; a block file and then state.json are each written by rename, so a
restart resumes from the last block written (at most one block of windows is heard again).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import InputFileError

STATE = "state.json"
BLOCK_ROWS = 256  # rows per block file: ~2 min of 0.5 s windows, 260 KB of 256-value rows


def _write_atomic(path: Path, write: Any) -> None:
    """write(handle) into a temporary file beside path, then rename it over path."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class FeatureStore:
    """Feature rows (n, dim) of one stream's learning period; see the module docstring for the layout."""

    def __init__(self, folder: Path, dim: int, cap: int, *, key: str = "", block_rows: int = BLOCK_ROWS) -> None:
        """Open the store in ``folder`` (created), resuming it when its dim and key (the bundle learned from)
        match; otherwise it starts empty. cap: rows kept at most (>= 2 blocks)."""
        self.folder, self.dim, self.cap, self.key = folder, dim, max(int(cap), 2 * block_rows), key
        self.block_rows = block_rows
        self.stride, self.seen, self.learned_s, self.blocks = 1, 0, 0.0, []
        self.done: dict[str, Any] | None = None
        self._rows: list[np.ndarray] = []
        self._t: list[np.ndarray] = []
        folder.mkdir(parents=True, exist_ok=True)
        saved = self._read_state()
        if saved is not None and saved.get("dim") == dim and saved.get("key") == key:
            self.stride, self.seen = int(saved["stride"]), int(saved["seen"])
            self.learned_s, self.blocks = float(saved["learned_s"]), list(saved["blocks"])
            self.done = saved.get("done")
        elif saved is not None:
            self.clear()

    def _read_state(self) -> dict[str, Any] | None:
        path = self.folder / STATE
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{path}: unreadable learn state ({exc}); expected the JSON vigil writes") from None
        return data if isinstance(data, dict) else None

    def _write_state(self) -> None:
        state = {"dim": self.dim, "key": self.key, "cap": self.cap, "stride": self.stride, "seen": self.seen,
                 "learned_s": self.learned_s, "blocks": self.blocks, "done": self.done}
        _write_atomic(self.folder / STATE, lambda h: h.write(json.dumps(state).encode()))

    @property
    def kept(self) -> int:
        """Rows in the store, those in memory included."""
        return sum(int(n) for _, n in self.blocks) + sum(r.shape[0] for r in self._rows)

    def add(self, rows: np.ndarray, t: np.ndarray, learned_s: float) -> None:
        """Offer windows (n, dim) at learned seconds t (n,), in time order; learned_s: seconds learned after them."""
        if rows.ndim != 2 or rows.shape[1] != self.dim or t.shape != (rows.shape[0],):
            raise ValueError(f"rows {rows.shape} and t {t.shape} (expected (n, {self.dim}) and (n,))")
        keep = (self.seen + np.arange(rows.shape[0])) % self.stride == 0
        self.seen += rows.shape[0]
        self.learned_s = float(learned_s)
        if keep.any():
            self._rows.append(np.asarray(rows[keep], np.float32))
            self._t.append(np.asarray(t[keep], np.float64))
        if sum(r.shape[0] for r in self._rows) >= self.block_rows:
            self.flush()

    def flush(self) -> None:
        """Write the rows held in memory as one block, thin the store if it passed its cap, save the state."""
        if self._rows:
            rows, t = np.concatenate(self._rows), np.concatenate(self._t)
            self._rows, self._t = [], []
            self._append_block(rows, t)
            if self.kept > self.cap:
                self._thin()
        self._write_state()

    def _append_block(self, rows: np.ndarray, t: np.ndarray, after: int = 0) -> None:
        """Write rows as the next block, numbered after every block listed and ``after``."""
        number = 1 + max([after, *(int(name[6:12]) for name, _ in self.blocks)])
        name = f"block-{number:06d}.npz"
        _write_atomic(self.folder / name, lambda h: np.savez(h, rows=rows, t=t))
        self.blocks.append([name, int(rows.shape[0])])

    def _thin(self) -> None:
        """Keep every other row (the store spans the same time, half as dense) and double the stride."""
        rows, t = self.rows()
        old = [name for name, _ in self.blocks]
        last = max(int(name[6:12]) for name in old)  # new blocks never take an old one's name
        self.blocks = []
        rows, t = rows[::2], t[::2]
        for i in range(0, rows.shape[0], self.block_rows):
            self._append_block(rows[i : i + self.block_rows], t[i : i + self.block_rows], last)
        self.stride *= 2
        self._write_state()  # the new blocks are named before the old ones go
        for name in old:
            (self.folder / name).unlink(missing_ok=True)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Every kept row (n, dim) float32 in time order and its learned seconds (n,) float64 (blocks on disk
        first, then those in memory)."""
        rows, t = [np.empty((0, self.dim), np.float32)], [np.empty(0)]
        for name, _ in self.blocks:
            with np.load(self.folder / name) as block:
                rows.append(block["rows"])
                t.append(block["t"])
        return np.concatenate(rows + self._rows), np.concatenate(t + self._t)

    def finish(self, done: dict[str, Any]) -> None:
        """Mark the period learned (what it made): a restart does not learn it again."""
        self.flush()
        self.done = done
        self._write_state()

    def clear(self) -> None:
        """Forget what was learned: the store's own files only."""
        for path in self.folder.glob("block-*.npz"):
            path.unlink()
        (self.folder / STATE).unlink(missing_ok=True)
        self.stride, self.seen, self.learned_s, self.blocks, self.done = 1, 0, 0.0, [], None
        self._rows, self._t = [], []


def clip_means(window: np.ndarray, t: np.ndarray, clip_seconds: float) -> np.ndarray:
    """Mean window score (n,) over each run of ``clip_seconds`` of learned time t (n,) s, in time order -> (clips,)
    (as `vigil calibrate` cuts a long recording into clips)."""
    groups = np.floor(t / clip_seconds).astype(np.int64)
    starts = np.flatnonzero(np.diff(groups, prepend=groups[:1] - 1))
    return np.array([part.mean() for part in np.split(window, starts[1:])])


def open_store(path: Path) -> FeatureStore:
    """An existing store (`vigil calibrate --features`, `vigil train audio --features`), read as it was saved."""
    state = path / STATE
    if not state.is_file():
        raise InputFileError(f"{path}: not a learn store (expected a folder holding {STATE} from a stream's learn "
                             "period, under the service's state directory learn/STREAM)")
    try:
        data = json.loads(state.read_text())
        return FeatureStore(path, int(data["dim"]), int(data["cap"]), key=str(data["key"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFileError(f"{state}: unreadable learn state ({exc}); expected the JSON vigil writes") from None
