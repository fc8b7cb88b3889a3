"""Retrain the bundled dense-AE bundles, one per DCASE machine type, and report their figures.

Usage: .venv/bin/python scripts/train_bundled_audio.py [--data ../shared/data/dcase2020-task2-dev-samples]
       [--epochs 50] [--seed 0] [--out out/bundled-audio]

For each machine type: `vigil train audio` (fit / threshold / reserved-test split by clip), then
`vigil evaluate` on the clips the bundle never saw (reports under OUT/reports/<type>/). The
int8-only copy of each bundle goes to edge/data/bundles/<type>/ (what the gateway ships), and one
normal and one anomalous *reserved test* clip per type, cut to their first 5 s, to
edge/data/samples/<type>/ for `vigil demo`. Prints a Markdown table for README.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.io.wavfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from train.dataset import MACHINE_TYPES as TYPES  # noqa: E402


def vigil(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], check=True, capture_output=True, text=True,
                          cwd=ROOT).stdout


def ship_int8(full: Path, target: Path) -> None:
    """Copy a bundle with only its int8 model (the gateway's variant) and a manifest to match."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    manifest = json.loads((full / "manifest.json").read_text())
    manifest["models"] = {"int8": manifest["models"]["int8"]}
    for entry in manifest["models"]["int8"].get("files", {"model": manifest["models"]["int8"]}).values():
        shutil.copy2(full / entry["file"], target)
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def ship_samples(manifest: dict, data: Path, machine: str, target: Path, seconds: float = 5.0) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    reserved = [f["file"] for f in manifest["provenance"]["reserved_test_files"]]
    for prefix in ("normal", "anomaly"):
        name = sorted(f for f in reserved if f.startswith(prefix))[0]
        source = next(data.rglob(f"*/{machine}/{name}"))
        sr, samples = scipy.io.wavfile.read(source)
        scipy.io.wavfile.write(target / name, sr, np.ascontiguousarray(samples[: int(seconds * sr)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/dcase2020-task2-dev-samples")
    parser.add_argument("--out", type=Path, default=ROOT / "out/bundled-audio")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for machine in TYPES:
        full = args.out / "bundles" / machine
        full.parent.mkdir(parents=True, exist_ok=True)
        vigil("train", "audio", str(args.data), "--machine-type", machine, "--out", str(full),
              "--epochs", str(args.epochs), "--seed", str(args.seed), "--json")
        result = json.loads(vigil("evaluate", str(args.data), "--bundle", str(full), "--report",
                                  str(args.out / "reports" / machine), "--json"))
        manifest = json.loads((full / "manifest.json").read_text())
        ship_int8(full, ROOT / "edge/data/bundles" / machine)
        ship_samples(manifest, args.data, machine, ROOT / "edge/data/samples" / machine)
        f32, i8 = result["variants"]["float32"], result["variants"]["int8"]
        rows.append((machine, f32["n_normal"], f32["n_anomalous"], f32["auc"], i8["auc"], f32["pauc"], i8["pauc"],
                     i8["f1"], manifest["models"]["float32"]["bytes"], manifest["models"]["int8"]["bytes"]))
        print(f"{machine}: AUC float32 {f32['auc']:.3f} int8 {i8['auc']:.3f}", file=sys.stderr)
    print("| machine type | test clips (normal + anomalous) | AUC float32 | AUC int8 | pAUC float32 | pAUC int8 "
          "| F1 int8 @ threshold | model bytes float32 / int8 |")
    print("|---|---|---|---|---|---|---|---|")
    for m, nn, na, af, ai, pf, pi, f1, bf, bi in rows:
        print(f"| {m} | {nn} + {na} | {af:.3f} | {ai:.3f} | {pf:.3f} | {pi:.3f} | {f1:.3f} | {bf} / {bi} |")
    mean_f = np.mean([r[3] for r in rows])
    mean_i = np.mean([r[4] for r in rows])
    print(f"| **mean** | | {mean_f:.3f} | {mean_i:.3f} | | | | |")
    print(f"\nmean |AUC int8 - AUC float32| = {np.mean([abs(r[4] - r[3]) for r in rows]):.4f}")


if __name__ == "__main__":
    main()
