"""The gateway's learning period: AUC of the NumPy refit after learning on more normal clips, and its cost.

Usage (from the project root; a few minutes on the shared 2-core machine):
  nice -n 10 .venv/bin/python -m benchmarks.learning_curve [--json out.json]

What is refitted is what a stream's ``learn`` period refits (edge.learn): the fused default's maha
(two-block Ledoit-Wolf whitening) and maha-envelope (the same on 24 cepstral coefficients) members on the
bundle's ``logmel-stats`` windows
of the fit clips, taken in time order (clip after clip) as a stream hears them; z-scales from
out-of-fold scores (5 contiguous time blocks); fused by the bundled default's rule (max). The features'
standardization is the fit windows' own mean and std, as training computes it. Clip score = mean fused
window score; AUC over held-out clips of the same machine id, never a clip fitted on.

Splits by clip:
* slider id_00 (75 normal training clips; anomalies: the dev-samples and lite slider id_00 test clips):
  5 seeded splits; each holds out 10 training clips, which with the 5 dev/lite normal clips are the
  normal test clips (15), and fits on the first N (10, 20, 40, 65) of the other 65 in the split's order
  (nested: more learning adds clips); 4 anomalous clips.
* every other machine id of dev-samples + lite with at least 5 normal clips: fit on N = 2 .. n - 1 of
  its normal clips (up to 10 seeded draws per N), test on its other normal clips and all its anomalies.

AUC: mean and std over the splits of the per-split AUC; counts per split. The cost: refit (out-of-fold
folds and the final fit) of N windows (real slider windows drawn with replacement, tiny noise added so
no row repeats), on one core (BLAS threads 1), CPU seconds, median of 3 runs; the peak memory the
refit allocates (tracemalloc, on top of the rows themselves).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from edge.bundle.loader import load_bundle  # noqa: E402
from edge.detectors.fused import fuse_scores  # noqa: E402
from edge.io.wav import load_mono  # noqa: E402
from edge.learn.learned_bundle import refit_fused  # noqa: E402
from edge.learn.refit import members_of, project  # noqa: E402
from train.dataset import Clip, discover_clips  # noqa: E402
from train.metrics import clip_metrics  # noqa: E402

DATA = Path("../shared/data")
BUNDLE = Path("edge/data/bundles/slider")  # its feature spec and members; its own fit is not used
SLIDER_N = (10, 20, 40, 65)
COST_N = (1000, 5000, 14000, 20000)  # 14000 windows: about 2 h of stream at ~0.51 s per window


class Windows:
    """Feature rows (windows, dim) float32 of each clip in the bundle's feature set, computed once."""

    def __init__(self) -> None:
        self.bundle = load_bundle(BUNDLE)
        self.spec = self.bundle.spec
        self.cache: dict[Path, np.ndarray] = {}

    def of(self, clip: Clip) -> np.ndarray:
        if clip.path not in self.cache:
            self.cache[clip.path] = self.spec.compute(load_mono(clip.path, sr=self.spec.sr))
        return self.cache[clip.path]


def clip_aucs(windows: Windows, fit: list[Clip], tests: list[Clip]) -> float:
    """Refit on the fit clips' windows in order; AUC of the test clips' mean fused window scores."""
    m = windows.bundle.manifest
    rows = np.concatenate([windows.of(c) for c in fit]).astype(np.float64)
    mean, std = rows.mean(axis=0), np.maximum(rows.std(axis=0), 1e-6)
    members = members_of(m.detector_params, std)
    rule = str(m.detector_params["rule"])
    projections, scales, _ = refit_fused((rows - mean) / std, members, rule)
    scores = []
    for clip in tests:
        x = (windows.of(clip).astype(np.float64) - mean) / std
        scores.append(float(fuse_scores({n: project(x, p) for n, p in projections.items()}, scales, rule).mean()))
    labels = np.array([c.label for c in tests])
    return float(clip_metrics(labels, np.array(scores), 0.0)["auc"])


def curve(windows: Windows, splits: list[tuple[list[Clip], list[Clip]]]) -> dict[str, float | int]:
    aucs = [clip_aucs(windows, fit, tests) for fit, tests in splits]
    tests = splits[0][1]
    return {"splits": len(splits), "fit_clips": len(splits[0][0]), "fit_windows": sum(windows.of(c).shape[0]
                                                                                       for c in splits[0][0]),
            "normal": sum(c.label == 0 for c in tests), "anomalous": sum(c.label == 1 for c in tests),
            "auc_mean": float(np.mean(aucs)), "auc_std": float(np.std(aucs))}


def slider_curve(windows: Windows, test_clips: list[Clip]) -> dict[int, dict[str, float | int]]:
    train = [Clip(c.path, 0, "slider", "id_00") for c in discover_clips(DATA / "dcase2020-slider-id00-train")]
    mine = [c for c in test_clips if c.machine_type == "slider" and (c.machine_id or "").removeprefix("id_") == "00"]
    out = {}
    orders = [np.random.default_rng(seed).permutation(len(train)) for seed in range(5)]
    for n in SLIDER_N:
        splits = [([train[i] for i in order[10 : 10 + n]], [train[i] for i in order[:10]] + mine) for order in orders]
        out[n] = curve(windows, splits)
    return out


def id_curves(windows: Windows, clips: list[Clip]) -> dict[str, dict[int, dict[str, float | int]]]:
    ids = sorted({(c.machine_type or "", (c.machine_id or "").removeprefix("id_")) for c in clips})
    out = {}
    for machine, mid in ids:
        mine = [c for c in clips if (c.machine_type, (c.machine_id or "").removeprefix("id_")) == (machine, mid)]
        normals, anomalous = [c for c in mine if c.label == 0], [c for c in mine if c.label == 1]
        if len(normals) < 5 or not anomalous:
            continue
        rows = {}
        for n in range(2, len(normals)):
            rng = np.random.default_rng(n)
            draws = {tuple(sorted(rng.choice(len(normals), n, replace=False).tolist())) for _ in range(30)}
            splits = [([normals[i] for i in d], [c for i, c in enumerate(normals) if i not in d] + anomalous)
                      for d in sorted(draws)[:10]]
            rows[n] = curve(windows, splits)
        out[f"{machine} id_{mid}"] = rows
    return out


def cost(windows: Windows, clips: list[Clip]) -> dict[int, tuple[float, float]]:
    """Seconds to refit N windows on one core (median of 3) and the refit's peak NumPy memory (MB, tracemalloc)."""
    import tracemalloc

    real = np.concatenate([windows.of(c) for c in clips]).astype(np.float64)
    m = windows.bundle.manifest
    members = members_of(m.detector_params, np.maximum(real.std(axis=0), 1e-6))
    rng = np.random.default_rng(0)
    out = {}
    for n in COST_N:
        rows = real[rng.integers(0, real.shape[0], n)]
        rows = rows + 1e-3 * rows.std(axis=0) * rng.standard_normal(rows.shape)
        x = (rows - rows.mean(axis=0)) / np.maximum(rows.std(axis=0), 1e-6)
        times = []
        for _ in range(3):
            start = time.process_time()
            refit_fused(x, members, str(m.detector_params["rule"]))
            times.append(time.process_time() - start)
        tracemalloc.start()
        refit_fused(x, members, str(m.detector_params["rule"]))
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        out[n] = (float(np.median(times)), peak)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    windows = Windows()
    tests = discover_clips(DATA / "dcase2020-task2-dev-samples") + discover_clips(DATA / "dcase2020-task2-lite")
    result = {"slider id_00 (75 train clips)": slider_curve(windows, tests)} | id_curves(windows, tests)
    print("| machine id | fit clips | fit windows | splits | normal + anomalous test clips per split | AUC mean | "
          "AUC std |")
    print("|---|---|---|---|---|---|---|")
    for machine, rows in result.items():
        for n, r in rows.items():
            print(f"| {machine} | {n} | {r['fit_windows']} | {r['splits']} | {r['normal']} + {r['anomalous']} | "
                  f"{r['auc_mean']:.3f} | {r['auc_std']:.3f} |")
    slider = discover_clips(DATA / "dcase2020-slider-id00-train")
    seconds = cost(windows, slider)
    print("\n| windows | refit s (one core, x86) | peak NumPy memory of the refit, MB |\n|---|---|---|")
    for n, (s, mb) in seconds.items():
        print(f"| {n} | {s:.2f} | {mb:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"curves": {k: {str(n): r for n, r in v.items()} for k, v in result.items()},
                                         "cost_s": seconds}, indent=1))


if __name__ == "__main__":
    main()
