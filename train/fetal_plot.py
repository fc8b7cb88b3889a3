"""Plot of a `vigil beats` result: an excerpt of the leads with maternal and fetal beats marked,
and the whole FHR trace with bad-quality stretches shaded. Desktop only (matplotlib): `vigil beats
--plot` loads this module from the train package when asked, so the gateway never imports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge.fetal.prep import bandpass

EXCERPT_S = 10.0


def plot_beats(rec: Any, result: Any, out: Path, *, start_s: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fs = rec.fs
    if start_s is None:
        start_s = max(0.0, min(result.seconds - EXCERPT_S, result.seconds / 2))
    a = int(start_s * fs)
    n = min(int(EXCERPT_S * fs), rec.n_samples - a)
    x = bandpass(rec._read(a, n) * np.asarray(rec._scales), fs, 1.0, 100.0)
    t = (a + np.arange(n)) / fs
    leads = len(rec.labels)
    fig, axes = plt.subplots(leads + 1, 1, figsize=(12, 1.6 * leads + 3), squeeze=False)
    for i, ax in enumerate(axes[:leads, 0]):
        ax.plot(t, x[:, i], lw=0.6, color="0.2")
        for peaks, color, label in ((result.maternal, "tab:blue", "maternal"), (result.fetal, "tab:red", "fetal")):
            p = peaks[(peaks >= a) & (peaks < a + n)] - a
            ax.plot(t[p], x[p, i], "o", ms=3, color=color, label=label)
        ax.set_ylabel(f"{rec.labels[i]}\nµV", fontsize=8)
        if i == 0:
            ax.legend(loc="upper right", fontsize=7)
    ax = axes[leads, 0]
    if result.fhr:
        ax.plot([p.t for p in result.fhr], [p.bpm for p in result.fhr], ".", ms=2, color="tab:red")
    for q in result.quality:
        if getattr(q, "lead", None) is None and q.score >= 0.5:
            ax.axvspan(q.start_s, q.end_s, color="orange", alpha=0.25, lw=0)
    for e in result.events:
        ax.axvspan(e.start_s, e.end_s, color="tab:purple", alpha=0.25, lw=0)
    ax.axhspan(110, 160, color="green", alpha=0.07)
    ax.axvspan(a / fs, (a + n) / fs, color="0.5", alpha=0.1)
    ax.set_ylim(50, 220)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("FHR (bpm)")
    ax.set_title("FHR (shaded: overall quality >= 0.5 orange, FHR events purple; grey: the excerpt above)", fontsize=9)
    fig.suptitle(Path(result.file).name, fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
