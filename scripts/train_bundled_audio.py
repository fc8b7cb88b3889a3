"""Retrain the bundled audio bundles (the default detector), one machine id per DCASE machine type, and report them.

Usage: .venv/bin/python -m scripts.train_bundled_audio [--data ../shared/data] [--seed 0] [--out out/bundled-audio]

A bundle is what a user builds for one machine: per machine type, the machine id of
dcase2020-task2-lite (fan 06, pump 04, slider 00, toycar 04, toyconveyor 01, valve 02). Its normal
clips of dcase2020-task2-dev-samples and -lite are pooled; two (seeded) are held out, the rest are
fitted by `vigil train audio` with no --detector (every fitted clip learnt from, thresholds from
out-of-fold scores). Slider id 00 fits 10 clips of dcase2020-slider-id00-train instead (the
acceptance setting) and holds out all 5 others. `vigil evaluate` then scores the held-out normal
and every anomalous clip of that machine (reports under OUT/reports/<type>/). A copy of each bundle
with only its default variant (the one the gateway runs) goes to edge/data/bundles/<type>/, and two
held-out normal and two anomalous clips of the same machine, cut to their first SAMPLE_SECONDS, to
edge/data/samples/<type>/ for `vigil demo`: no clip fitted on or used for thresholds is shipped. The
shipped manifest names the samples' sources and sha256 (provenance.demo_samples) and the held-out
figures of the whole machine (provenance.held_out: counts, AUC and pAUC per variant), which the
demo prints. Prints a Markdown table for reports/machine-sound/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.io.wavfile

ROOT = Path(__file__).resolve().parents[1]
MACHINES = {"fan": "id_06", "pump": "id_04", "slider": "id_00", "toycar": "id_04", "toyconveyor": "id_01",
            "valve": "id_02"}
SETS = ("dcase2020-task2-dev-samples", "dcase2020-task2-lite")
TAGS = {SETS[0]: "dev", SETS[1]: "lite", "dcase2020-slider-id00-train": "train"}
SAMPLE_SECONDS = 5.0  # 2 normal + 2 anomalous clips per machine: 24 clips of 160 KB
TABLE = "reports/machine-sound/README.md"  # where the demo points for the per-id figures


def vigil(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], check=True, capture_output=True, text=True,
                          cwd=ROOT).stdout


def ship(full: Path, target: Path) -> None:
    """Copy a bundle with its default variant (the one the gateway runs) and its int8 one (what `vigil
    export-c` writes for a microcontroller), and a manifest to match."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    manifest = json.loads((full / "manifest.json").read_text())
    kept = {manifest["default_variant"], "int8"}
    manifest["models"] = {v: entry for v, entry in manifest["models"].items() if v in kept}
    for entry in manifest["models"].values():
        for file in entry.get("files", {"model": entry}).values():
            shutil.copy2(full / file["file"], target)
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def ship_samples(sources: list[Path], data: Path, target: Path, bundle: Path, held_out: dict,
                 seconds: float = SAMPLE_SECONDS) -> None:
    """Clips cut to `seconds` into `target`; their sources and the machine's held-out figures recorded in
    the shipped manifest."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    manifest = json.loads((bundle / "manifest.json").read_text())
    shipped = []
    for source in sources:
        sr, samples = scipy.io.wavfile.read(source)
        name = tagged(source, data)  # dev and lite reuse numbers
        scipy.io.wavfile.write(target / name, sr, np.ascontiguousarray(samples[: int(seconds * sr)]))
        shipped.append({"file": name, "source": str(source.relative_to(data)), "seconds": seconds,
                        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest()})
    manifest["provenance"]["demo_samples"] = shipped
    manifest["provenance"]["held_out"] = held_out
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def model_bytes(manifest: dict, variant: str) -> int:
    """Bytes of a variant's model file(s) (the fused default has one per member)."""
    entry = manifest["models"][variant]
    return sum(f["bytes"] for f in entry.get("files", {"model": entry}).values())


def link(paths: list[Path], folder: Path, data: Path) -> None:
    """Symlinks named <label>_id_<id>_<set>_<number>.wav (the sets reuse numbers)."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
        (folder / tagged(p, data)).symlink_to(p)


def tagged(path: Path, data: Path) -> str:
    """<label>_id_<id>_<set>_<number>.wav: the clip's name with its data set's tag."""
    label, _, rest = path.name.partition("_id_")
    ident, _, number = rest.partition("_")
    return f"{label}_id_{ident}_{TAGS[path.relative_to(data).parts[0]]}_{number}"


def clips_of(data: Path, machine: str, ident: str, label: str) -> list[Path]:
    return sorted(p for s in SETS for p in (data / s).rglob(f"{label}_{ident}_*.wav") if p.parent.name == machine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "out/bundled-audio")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for machine, ident in MACHINES.items():
        normal, anomalous = (clips_of(args.data, machine, ident, label) for label in ("normal", "anomaly"))
        if machine == "slider":
            train = sorted((args.data / "dcase2020-slider-id00-train").glob("*.wav"))
            fit = [train[i] for i in np.sort(np.random.default_rng(args.seed).permutation(len(train))[:10])]
            held = normal
        else:
            order = np.random.default_rng(args.seed).permutation(len(normal))
            held, fit = [normal[i] for i in order[:2]], [normal[i] for i in order[2:]]
        work = args.out / "data" / machine
        if work.exists():
            shutil.rmtree(work)
        link(fit, work / "fit", args.data)
        link(held + anomalous, work / "unseen" / machine, args.data)
        full = args.out / "bundles" / machine
        full.parent.mkdir(parents=True, exist_ok=True)
        vigil("train", "audio", str(work / "fit"), "--out", str(full), "--seed", str(args.seed), "--json", "--force")
        manifest = json.loads((full / "manifest.json").read_text())
        manifest["machine_type"], manifest["machine_id"] = machine, ident
        manifest["name"] = f"{manifest['detector']['kind']}-{machine}"  # the fit folder has no machine-type name
        (full / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        result = json.loads(vigil("evaluate", str(work / "unseen"), "--bundle", str(full), "--report",
                                  str(args.out / "reports" / machine), "--json", "--force"))  # our own report
        f32, i8 = result["variants"]["float32"], result["variants"]["int8"]
        held_out = {"machine_id": ident, "fitted_normal_clips": len(fit), "normal": f32["n_normal"],
                    "anomalous": f32["n_anomalous"], "table": TABLE,
                    **{f"{k}_{v}": round(result["variants"][v][k], 3) for k in ("auc", "pauc")
                       for v in ("float32", "int8")}}
        ship(full, ROOT / "edge/data/bundles" / machine)
        ship_samples([*held[:2], *anomalous[:2]], args.data, ROOT / "edge/data/samples" / machine,
                     ROOT / "edge/data/bundles" / machine, held_out)
        rows.append((f"{machine} {ident}", len(fit), f32["n_normal"], f32["n_anomalous"], f32["auc"], i8["auc"],
                     f32["pauc"], i8["pauc"], i8["f1"], model_bytes(manifest, "float32"),
                     model_bytes(manifest, "int8")))
        print(f"{machine}: AUC float32 {f32['auc']:.3f} int8 {i8['auc']:.3f}", file=sys.stderr)
    print("| machine | fitted normal clips | unseen clips (normal + anomalous) | AUC float32 | AUC int8 | pAUC float32 "
          "| pAUC int8 | F1 int8 @ threshold | model bytes float32 / int8 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m, nf, nn, na, af, ai, pf, pi, f1, bf, bi in rows:
        print(f"| {m} | {nf} | {nn} + {na} | {af:.3f} | {ai:.3f} | {pf:.3f} | {pi:.3f} | {f1:.3f} | {bf} / {bi} |")
    print(f"| **mean** | | | {np.mean([r[4] for r in rows]):.3f} | {np.mean([r[5] for r in rows]):.3f} | | | | |")
    print(f"\nmean |AUC int8 - AUC float32| = {np.mean([abs(r[5] - r[4]) for r in rows]):.4f}")


if __name__ == "__main__":
    main()
