"""The fused default on the gateway path: each member and each fusion rule, float32 and int8, per machine id.

Usage (from the project root; about 30 min on the shared 2-core machine):
  nice -n 10 .venv/bin/python -m benchmarks.fused_audio [--json out.json]

Splits by clip as benchmarks/studies/fusion_choice.py (its docstring): every machine id with at least
5 normal clips, leave one normal clip out; slider id 00 also fitted on 5 seeded draws of 10 training
clips. Each split trains the fused bundle exactly as `vigil train audio DIR --out B` does (no
--detector: members fitted on every fit clip, z scales and thresholds from their out-of-fold scores,
k = 5 by clip) and scores the split's test clips with the bundle's float32 and int8 models on the
gateway path (edge.detectors.fused, TFLite). The members' scores are read from the same bundle
(each z-normalised by its own stored scales, so the splits pool on one scale); ``kmeans-1s`` is the
write-up's own K-means(1) on its 1 s windows, exported and scored the same way (the baseline). AUC
and pAUC (max FPR 0.1) pool every split's held-out normal and anomalous clip scores of an id.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.fewshot_audio import fit_score
from benchmarks.studies.fusion_choice import machines
from edge.bundle.loader import load_bundle
from edge.detectors.base import load_detector
from edge.detectors.fused import RULES, FusedDetector
from edge.io.wav import load_mono
from train.audio import AudioTrainConfig, FeatureCache, train_bundle
from train.dataset import Clip, Split
from train.detectors import DetectorOptions
from train.fused_audio import FUSED, fused_kind
from train.metrics import clip_metrics

VARIANTS = ("float32", "int8")


def split_scores(fit: list[Clip], tests: list[Clip], cache: FeatureCache, seed: int) -> dict[str, dict[str, list]]:
    """Per variant, per method (members, rules, kmeans-1s): clip scores of the test clips."""
    config = AudioTrainConfig(detector=FUSED, options=DetectorOptions(seed=seed))
    out: dict[str, dict[str, list]] = {v: {} for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle"
        train_bundle(fused_kind(), Split(fit, [], [], []), path, config, cache, tmp)
        bundle = load_bundle(path)
        for v in VARIANTS:
            det = load_detector(bundle, v)
            assert isinstance(det, FusedDetector)
            for clip in tests:
                z = det.member_scores(bundle.spec.compute(load_mono(clip.path, sr=bundle.spec.sr)))
                rows = np.stack(list(z.values()))
                for name, s in z.items():
                    out[v].setdefault(name, []).append(float(s.mean()))
                for rule in RULES:
                    fused = {"mean": rows.mean(axis=0), "max": rows.max(axis=0), "min": rows.min(axis=0)}[rule]
                    out[v].setdefault(f"fused-{rule}", []).append(float(fused.mean()))
    base = fit_score("kmeans", fit, {"t": [load_mono(c.path, sr=16000) for c in tests]}, cache, seed)
    for v in VARIANTS:  # z-normalised by nothing: per split one model, pooled splits compare raw distances
        out[v]["kmeans-1s"] = base[v]["t"].tolist()
    return out


def run() -> dict:
    cache = FeatureCache()
    result: dict = {}
    for machine, splits in machines():
        pooled: dict[str, dict[str, list[float]]] = {v: {} for v in VARIANTS}
        labels: list[int] = []
        for s, (fit, tests) in enumerate(splits):
            print(f"{machine} split {s}", file=sys.stderr)
            for v, methods in split_scores(fit, tests, cache, seed=s).items():
                for name, scores in methods.items():
                    pooled[v].setdefault(name, []).extend(scores)
            labels += [c.label for c in tests]
        y = np.array(labels)
        result[machine] = {"splits": len(splits), "fit_clips": len(splits[0][0]), "normal": int((y == 0).sum()),
                           "anomalous": int(y.sum()),
                           "methods": {v: {n: {k: clip_metrics(y, np.array(s), 0.0)[k] for k in ("auc", "pauc")}
                                           for n, s in m.items()} for v, m in pooled.items()}}
    return result


def table(result: dict) -> None:
    ids = [m for m in result if "train clips" not in m]
    methods = list(next(iter(result.values()))["methods"]["int8"])
    print("| method | variant | " + " | ".join(f"{m} AUC (pAUC)" for m in result) + " | worst id | mean (6 ids) |")
    print("|---|---|" + "---|" * (len(result) + 2))
    for name in methods:
        for v in VARIANTS:
            cells = [result[m]["methods"][v][name] for m in result]
            six = [result[m]["methods"][v][name]["auc"] for m in ids]
            print(f"| {name} | {v} | " + " | ".join(f"{c['auc']:.3f} ({c['pauc']:.3f})" for c in cells)
                  + f" | {min(c['auc'] for c in cells):.3f} | {np.mean(six):.3f} |")
    print("\nper id: splits, fit clips per split, pooled normal + anomalous test clips: "
          + "; ".join(f"{m}: {t['splits']}, {t['fit_clips']}, {t['normal']} + {t['anomalous']}"
                      for m, t in result.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    result = run()
    table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
