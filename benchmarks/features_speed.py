"""Feature speed, side by side in one run on one core: the write-up's librosa code vs vigil.

Usage: .venv/bin/python -m benchmarks.features_speed [--clips N] [--data DIR]
Pins the process to one CPU, decodes N real clips (every machine type, in turn), then times
both implementations over the same clips (best of 3 passes each) and checks parity.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from edge.commands.scoring import pin_to_one_core as _pin_to_one_core
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from tests.librosa_reference import logmel_vectors_librosa, seed_windows_librosa

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, clips: list[np.ndarray], passes: int = 3) -> tuple[float, list[np.ndarray]]:
    best, out = float("inf"), []
    for _ in range(passes):
        t0 = time.process_time()
        out = [fn(y) for y in clips]
        best = min(best, time.process_time() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/dcase2020-task2-dev-samples")
    parser.add_argument("--clips", type=int, default=12)
    args = parser.parse_args()
    cpu = _pin_to_one_core()
    paths = sorted(args.data.glob("*/*/*.wav"))
    paths = [paths[i] for i in np.linspace(0, len(paths) - 1, args.clips).astype(int)]
    clips = [load_mono(p, sr=16000) for p in paths]
    seconds = sum(y.size for y in clips) / 16000
    seed, logmel = FeatureSpec.default("seed"), FeatureSpec.default("logmel")
    seed_windows_librosa(clips[0][:16000], 16000)  # numba compiles librosa's kernels on first use
    report: dict[str, object] = {"cpu": cpu, "clips": len(clips), "audio_seconds": seconds}
    for name, ours_fn, ref_fn in (("seed", seed.compute, lambda y: seed_windows_librosa(y, 16000)),
                                  ("logmel", logmel.compute, lambda y: logmel_vectors_librosa(y, 16000))):
        t_ref, ref = best_of(ref_fn, clips)
        t_ours, ours = best_of(ours_fn, clips)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, ref, strict=True))
        report[name] = {"librosa_s": round(t_ref, 4), "vigil_s": round(t_ours, 4), "speedup": round(t_ref / t_ours, 1),
                        "vigil_x_realtime": round(seconds / t_ours), "max_abs_diff": diff,
                        "windows": int(sum(o.shape[0] for o in ours))}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
