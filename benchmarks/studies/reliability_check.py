"""Does a bundle's reliability estimate predict how well it finds real anomalies?

For every machine id with at least 5 normal clips and some anomalous ones (dev-samples + lite), and for
seeded draws of 10 normal clips of the 75-clip slider id_00 (with that id's anomalous clips), this trains
the default detector as `vigil train audio DIR --out B` would (5-fold out-of-fold thresholds), then sets
the bundle's reliability estimate (mean AUC of seeded synthetic faults against held-out normal clips,
train/reliability.py; no anomalous clip used) beside its real-anomaly AUC (the bundle's metrics: out-of-fold
normal clip scores against the anomalous clips, int8). The rank correlation (Spearman) over the machines
says how far the estimate can be trusted; with this few machines it is itself uncertain (its p-value).

Usage: .venv/bin/python -m benchmarks.studies.reliability_check [--draws 3] [--scale 1.0] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from train import reliability
from train.audio import AudioTrainConfig, train_audio
from train.dataset import Clip, discover_clips

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _id(clip: Clip) -> str:
    return f"id_{(clip.machine_id or '').removeprefix('id_')}"


def machines(draws: int) -> dict[str, tuple[list[Path], list[Path]]]:
    """{name: (normal clip paths, anomalous clip paths)}."""
    clips = discover_clips(DATA / "dcase2020-task2-dev-samples") + discover_clips(DATA / "dcase2020-task2-lite")
    out = {}
    for machine, mid in sorted({(c.machine_type or "", _id(c)) for c in clips}):
        normal = [c.path for c in clips if (c.machine_type, _id(c), c.label) == (machine, mid, 0)]
        anomalous = [c.path for c in clips if (c.machine_type, _id(c), c.label) == (machine, mid, 1)]
        if len(normal) >= 5 and anomalous:
            out[f"{machine} {mid}"] = (normal, anomalous)
    slider = sorted((DATA / "dcase2020-slider-id00-train").glob("normal_*.wav"))
    slider_anomalous = out.get("slider id_00", ([], []))[1]
    for draw in range(draws):
        picked = np.random.default_rng(draw).choice(len(slider), 10, replace=False)
        out[f"slider id_00 draw {draw}"] = ([slider[i] for i in sorted(picked)], slider_anomalous)
    return out


def measure(normal: list[Path], anomalous: list[Path], work: Path) -> dict:
    data = work / "data"
    for label, paths in (("normal", normal), ("anomalous", anomalous)):
        (data / label).mkdir(parents=True)
        for p in paths:
            (data / label / p.name).symlink_to(p)
    manifest = next(iter(train_audio(data, work / "bundle", AudioTrainConfig()).values()))
    r = manifest.reliability
    return {"normal": len(normal), "anomalous": len(anomalous), "auc_int8": manifest.metrics["int8"]["auc"],
            "estimate": r["estimate"], "faults": r["faults"], "unlike": len(r["unlike"]), "advice": r["advice"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=3, help="draws of 10 slider id_00 clips")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--scale", type=float, default=1.0, help="scale the faults' change (weaker: < 1)")
    args = parser.parse_args()
    reliability.FAULT_SCALE = args.scale
    rows = {}
    for name, (normal, anomalous) in machines(args.draws).items():
        print(name, file=sys.stderr)
        with tempfile.TemporaryDirectory() as work:
            rows[name] = measure(normal, anomalous, Path(work))
    print(f"| machine | clips n + a | real AUC int8 | estimate | {' | '.join(next(iter(rows.values()))['faults'])} "
          "| unlike |")
    print("|---|---|---|---|" + "---|" * (len(next(iter(rows.values()))["faults"]) + 1))
    for name, r in rows.items():
        faults = " | ".join(f"{a:.2f}" for a in r["faults"].values())
        print(f"| {name} | {r['normal']} + {r['anomalous']} | {r['auc_int8']:.3f} | {r['estimate']:.3f} | {faults} "
              f"| {r['unlike']} |")
    ids = {k: v for k, v in rows.items() if "draw" not in k}
    for label, part in (("machine ids", ids), ("machine ids and slider draws", rows)):
        rho, p = spearmanr([r["estimate"] for r in part.values()], [r["auc_int8"] for r in part.values()])
        print(f"- Spearman rho (estimate vs real AUC) over {len(part)} {label}: {rho:.2f} (p {p:.2f})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
