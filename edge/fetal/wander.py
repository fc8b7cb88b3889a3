"""Baseline wander of each lead that the other leads do not explain, streaming.

Maternal breathing and movement move the baseline of every abdominal electrode at once: on the clean
adfecgdb records r04 and r07 the 0.25-1 Hz baseline of the four leads correlates 0.93-0.98 (and it
is larger, for tens of seconds, than a wander fault). A drifting or loose electrode moves its own
baseline. So each lead's wander signal is regressed on the other leads' (ridge least squares over
the last `reach_s` seconds, the current window included), and the feature is the rms of what is
left over `window_s` around the frame. With one lead there is nothing to regress on: the rms of the
lead itself.

Measured on wander injected into adfecgdb (benchmarks/fetal_quality_eval.py's seeds; the onsets chosen
by benchmarks/studies/fetal_quality_tune.py on other seeds): AUC of the wander score 0.853 -> 0.898 (r04 0.905 ->
0.989, r07 0.786 -> 0.960); r01 and r08 stay near 0.80-0.85, where the real wander is on every lead
at once but not a linear mix of one source, and as large as the injected one.

Memory: `reach_s / hop` (c, c) matrices, whatever the recording's length.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class CrossLeadWander:
    """Per frame and lead: rms of the lead's wander signal minus its ridge prediction from the other leads.

    Feed frames in order (`rms` keeps the trailing second moments of past frames between calls).
    """

    def __init__(self, leads: int, hop: int, window: int, reach_frames: int, ridge: float = 0.05) -> None:
        """hop, window: samples of the wander signal per frame and per rms window; reach_frames: frames of
        second moments the regression uses; ridge: shrinkage in units of the regressors' mean power."""
        self.leads, self.hop, self.window, self.ridge = leads, max(1, hop), max(1, window), ridge
        self._past: deque[np.ndarray] = deque(maxlen=max(1, reach_frames))

    def copy(self) -> CrossLeadWander:
        """The same regression with its trailing moments (a file's primed start: QualityMonitor.prime)."""
        other = CrossLeadWander(self.leads, self.hop, self.window, self._past.maxlen or 1, self.ridge)
        other._past.extend(self._past)
        return other

    def rms(self, w: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """w (m, c) wander signal, centres (f,) frame centres as indices into w (windows inside w) -> (f, c)."""
        c = w.shape[1]
        cs = np.concatenate([np.zeros((1, c, c)), np.cumsum(w[:, :, None] * w[:, None, :], axis=0)])
        lo = centres - self.window // 2
        m = cs[lo + self.window] - cs[lo]  # (f, c, c): second moments over each frame's window
        if c < 2:
            return np.sqrt(np.maximum(m[:, 0, 0], 0.0) / self.window)[:, None]
        lo = centres - self.hop // 2
        per_frame = cs[lo + self.hop] - cs[lo]  # (f, c, c): this frame's own hop
        past = np.asarray(self._past).reshape(-1, c, c)
        run = np.concatenate([np.zeros((1, c, c)), np.cumsum(np.concatenate([past, per_frame]), axis=0)])
        end = past.shape[0] + 1 + np.arange(centres.size)
        start = np.maximum(end - self._past.maxlen, 0)  # type: ignore[operator]
        reg = run[end] - run[start] + m  # trailing moments, this window counted too (a short history at the start)
        self._past.extend(per_frame)
        out = np.empty((centres.size, c))
        for j in range(c):
            o = np.r_[0:j, j + 1:c]
            a = reg[:, o][:, :, o]
            a = a + (self.ridge * np.trace(a, axis1=1, axis2=2) / (c - 1) + 1e-12)[:, None, None] * np.eye(c - 1)
            b = np.linalg.solve(a, reg[:, o, j][..., None])[..., 0]  # (f, c - 1)
            moo = m[:, o][:, :, o]
            energy = m[:, j, j] - 2 * np.einsum("fi,fi->f", b, m[:, o, j]) + np.einsum("fi,fik,fk->f", b, moo, b)
            out[:, j] = np.sqrt(np.maximum(energy, 0.0) / self.window)
        return out
