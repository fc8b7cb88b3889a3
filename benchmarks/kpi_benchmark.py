"""KPI benchmark: Donut vs a rolling robust z-score and spectral residual on AIOps 2018 and NAB.

Per series: train on the first 70 % by time, test on the rest (protocol: benchmarks/kpi_protocol.py).
Each series runs in its own process and is cached as JSON under out/kpi-bench/TAG/SET/, so the
benchmark runs in parts (stop it any time; a rerun skips what is done); `table` assembles them.

  nice -n 10 .venv/bin/python -m benchmarks.kpi_benchmark run --set aiops [--series PREFIX...] [--budget-min 9]
  .venv/bin/python -m benchmarks.kpi_benchmark refresh --set aiops   # re-apply the current threshold rule
  .venv/bin/python -m benchmarks.kpi_benchmark rules --set aiops     # threshold rules on validation halves
  .venv/bin/python -m benchmarks.kpi_benchmark table --set aiops
Options --epochs/--patience/--batch change the Donut configuration (with --tag to keep runs apart).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from train.kpi_defaults import SCORES  # argparse only: no TensorFlow here

ROOT = Path(__file__).resolve().parents[1]

SETS = {"aiops": "kpi-aiops2018", "nab": "nab"}


def series_files(data: Path, which: str) -> list[tuple[str, Path]]:
    """(key, path) of every series of the set; NAB keys are its label keys (folder/file.csv)."""
    if which == "aiops":
        return [(p.stem, p) for p in sorted((data / SETS[which]).glob("*-*-*-*-*.csv"))]
    root = data / "nab" / "data"
    return [(str(p.relative_to(root)), p) for p in sorted(root.glob("*/*.csv"))]


def out_path(args: argparse.Namespace, key: str) -> Path:
    return args.out / args.tag / args.set / (key.replace("/", "__").removesuffix(".csv") + ".json")


def one(args: argparse.Namespace) -> int:
    from benchmarks.kpi_protocol import run_to_json
    from train.donut import DonutConfig

    config = DonutConfig(max_epochs=args.epochs, patience=args.patience, batch_size=args.batch, l2=args.l2)
    (key, path), = [(k, p) for k, p in series_files(args.data, args.set) if k == args.key]
    windows = _nab_windows(args)
    variants = ("float32", "int8") if not args.float32_only else ("float32",)
    run_to_json(path, out_path(args, key), config, nab_windows=windows, nab_key=key, variants=variants,
                combine=args.score, samples=args.samples)
    return 0


def _nab_windows(args: argparse.Namespace) -> dict[str, Any] | None:
    return json.loads((args.data / "nab" / "labels" / "combined_windows.json").read_text()) \
        if args.set == "nab" else None


def refresh(args: argparse.Namespace) -> int:
    """Re-apply the current threshold rule to every cached series (see benchmarks.kpi_protocol.refresh)."""
    from benchmarks.kpi_protocol import refresh as refresh_one

    windows = _nab_windows(args)
    for key, path in series_files(args.data, args.set):
        out = out_path(args, key)
        if out.exists() and out.with_suffix(".npz").exists():
            refresh_one(path, out, 0.3, nab_windows=windows, nab_key=key)
            print(f"{key}: refreshed", flush=True)
    return 0


RULES = ("p99", "p99.9", "f1_low_end", "f1_middle", "f1_low_end_capped_p99.9")


def _rule_thresholds(s: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from train.series_metrics import adjusted_f1_curve, segments

    normal = s[~y]
    out = {"p99": float(np.percentile(normal, 99)), "p99.9": float(np.percentile(normal, 99.9))}
    if segments(y):
        cand, f1 = adjusted_f1_curve(s, y, 7)
        k = j = int(np.argmax(f1))
        while j + 1 < len(cand) and f1[j + 1] == f1[k]:
            j += 1
        low = float(cand[j + 1]) if j + 1 < len(cand) else float(cand[j]) - 1.0
        out |= {"f1_low_end": low, "f1_middle": float(np.sinh((np.arcsinh(cand[k]) + np.arcsinh(low)) / 2)),
                "f1_low_end_capped_p99.9": min(low, out["p99.9"])}
    return out


def rules(args: argparse.Namespace) -> int:
    """Threshold rules compared on training data only: chosen on the first half of each series'
    validation part (float32 scores), scored (adjusted F1) on its second half."""
    from benchmarks.kpi_protocol import f1_adjusted_at

    means: dict[str, list[float]] = {r: [] for r in RULES}
    for key, _ in series_files(args.data, args.set):
        npz = out_path(args, key).with_suffix(".npz")
        if not npz.exists():
            continue
        stored = np.load(npz)
        s, y = stored["float32_scores"], stored["float32_labels"].astype(bool)
        half = len(s) // 2
        if not y[:half].any() or not y[half:].any():
            continue
        thresholds = _rule_thresholds(s[:half], y[:half])
        row = {r: f1_adjusted_at(s[half:], y[half:], t) for r, t in thresholds.items()}
        for r, f in row.items():
            means[r].append(float(f or 0.0))
        print(key[:24], " ".join(f"{r} {f:.3f}" for r, f in row.items() if f is not None))
    print("mean over", len(means["p99"]), "series:", " ".join(f"{r} {np.mean(v):.3f}" for r, v in means.items() if v))
    return 0


def run(args: argparse.Namespace) -> int:
    started = time.time()
    todo = [(k, p) for k, p in series_files(args.data, args.set)
            if (not args.series or any(k.startswith(s) or s in k for s in args.series))
            and not out_path(args, k).exists()]
    if args.smallest_first:
        todo.sort(key=lambda kp: kp[1].stat().st_size)
    for key, _ in todo:
        if time.time() - started > args.budget_min * 60:
            print(f"budget of {args.budget_min} min spent; {len(todo)} series were to do; rerun to continue")
            break
        lock = out_path(args, key).with_suffix(".lock")  # two drivers may share the work
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.open("x").close()
        except FileExistsError:
            continue
        t0 = time.time()
        cmd = [sys.executable, "-m", "benchmarks.kpi_benchmark", "one", "--key", key, *_shared(args)]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        lock.unlink()
        status = "ok" if result.returncode == 0 else "FAILED: " + result.stderr.strip().splitlines()[-1]
        print(f"{key}: {status} ({time.time() - t0:.0f} s)", flush=True)
    return 0


def _shared(args: argparse.Namespace) -> list[str]:
    out = ["--set", args.set, "--tag", args.tag, "--data", str(args.data), "--out", str(args.out),
           "--epochs", str(args.epochs), "--patience", str(args.patience), "--batch", str(args.batch),
           "--l2", str(args.l2), "--score", args.score, "--samples", str(args.samples)]
    return out + (["--float32-only"] if args.float32_only else [])


def fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def table(args: argparse.Namespace) -> int:
    rows = {p.stem: json.loads(p.read_text()) for p in sorted((args.out / args.tag / args.set).glob("*.json"))}
    methods = [("donut_float32", "Donut f32"), ("donut_int8", "Donut int8"), ("robust_zscore", "robust z"),
               ("spectral_residual", "SR")]
    head = ["series", "points (test, anom.)", "step", "train s", "epochs"]
    for _, label in methods:
        head += [f"{label} best F1*", f"{label} F1@thr", f"{label} AUC"]
    head += ["Donut f32 F1@p99 (old rule)", "Donut int8 RTF"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    sums: dict[str, list[float]] = {}
    labelled = {k: r for k, r in rows.items() if r["test_anomalous"] > 0}
    for key, r in rows.items():
        cells = [key.split("__")[-1][:30], f"{r['points']} ({r['test_points']}, {r['test_anomalous']})",
                 f"{r['interval_s']} s",
                 fmt(r["train_seconds"], 0), f"{r['epochs']} (best {r['best_epoch'] + 1})"]
        for name, _ in methods:
            m = r.get(name, {})
            for k in ("best_f1_adjusted", "f1_at_threshold_adjusted", "auc"):
                cells.append(fmt(m.get(k)))
                if key in labelled and m.get(k) is not None:
                    sums.setdefault(f"{name}.{k}", []).append(m[k])
        old = r.get("donut_float32", {}).get("f1_at_p99_adjusted")
        if key in labelled and old is not None:
            sums.setdefault("old", []).append(old)
        rtf = r.get("donut_int8", {}).get("real_time_factor")
        cells += [fmt(old), "n/a" if rtf is None else f"{rtf:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    mean = [f"**mean of {len(labelled)} with test anomalies**", "", "",
            fmt(float(np.mean([r["train_seconds"] for r in rows.values()])) if rows else None, 0), ""]
    for name, _ in methods:
        for k in ("best_f1_adjusted", "f1_at_threshold_adjusted", "auc"):
            vals = sums.get(f"{name}.{k}")
            mean.append(fmt(float(np.mean(vals))) if vals else "n/a")
    mean += [fmt(float(np.mean(sums["old"]))) if sums.get("old") else "n/a", ""]
    lines.append("| " + " | ".join(mean) + " |")
    print("\n".join(lines))
    print("\n*best F1: threshold tuned on the test part (an upper bound). F1@thr: at the threshold chosen from the "
          "validation part of the training data. All F1 with Donut's delay-7 adjustment; RTF: CPU s per signal s.")
    print("\n" + "\n".join(unadjusted_table(rows, methods, sums)))
    summary: dict[str, Any] = {k: float(np.mean(v)) for k, v in sums.items()}
    (args.out / args.tag / f"{args.set}-summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


UNADJUSTED = (("f1_at_threshold", "F1@thr point"), ("event_precision", "event P"), ("event_recall", "event R"),
              ("false_alarms", "false alarms"), ("auc_pr", "AUC-PR"))


def unadjusted_table(rows: dict[str, Any], methods: list[tuple[str, str]], sums: dict[str, list[float]]) -> list[str]:
    """The figures without point adjustment, at the same thresholds: a second markdown table (sums filled)."""
    head = ["series", "segments (test)"] + [f"{label} {h}" for _, label in methods for _, h in UNADJUSTED]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    labelled = [k for k, r in rows.items() if r["test_anomalous"] > 0]
    for key in labelled:
        r = rows[key]
        cells = [key.split("__")[-1][:30], str(r.get("donut_float32", r["robust_zscore"]).get("segments", "n/a"))]
        for name, _ in methods:
            m = r.get(name, {})
            for k, _ in UNADJUSTED:
                v = m.get(k)
                cells.append("n/a" if v is None else str(v) if k == "false_alarms" else fmt(v))
                if v is not None:  # event precision is undefined without alarms: left out of the mean
                    sums.setdefault(f"{name}.{k}", []).append(float(v))
        lines.append("| " + " | ".join(cells) + " |")
    mean = [f"**mean of {len(labelled)}**", ""]
    for name, _ in methods:
        for k, _ in UNADJUSTED:
            vals = sums.get(f"{name}.{k}")
            mean.append(fmt(float(np.mean(vals)), 1 if k == "false_alarms" else 3) if vals else "n/a")
    lines += ["| " + " | ".join(mean) + " |", "",
              "*Without point adjustment, at the same thresholds: point-wise F1; event P = alarms (runs of flagged "
              "points) that touch an anomaly segment / alarms (mean over series with alarms); event R = segments "
              "with a flagged point / segments; AUC-PR = average precision (no threshold)."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("run", "one", "table", "refresh", "rules"))
    parser.add_argument("--set", choices=tuple(SETS), default="aiops")
    parser.add_argument("--series", nargs="*", default=[], help="only series whose key starts with / contains these")
    parser.add_argument("--key", help="(one) the series key")
    parser.add_argument("--tag", default="default")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "kpi-bench")
    parser.add_argument("--epochs", type=int, default=256)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--l2", type=float, default=1e-3, help="hidden layers L2 (paper code: 1e-4)")
    parser.add_argument("--float32-only", action="store_true")
    parser.add_argument("--samples", type=int, default=16, help="latent samples L when scoring (train kpi: 16)")
    parser.add_argument("--score", choices=SCORES, default="donut",
                        help="as train kpi --score")
    parser.add_argument("--smallest-first", action="store_true", help="run: the shortest series first")
    parser.add_argument("--budget-min", type=float, default=9.0, help="start no new series after this many minutes")
    args = parser.parse_args()
    return {"run": run, "one": one, "table": table, "refresh": refresh, "rules": rules}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
