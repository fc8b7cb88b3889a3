"""Score rules for the KPI bundle compared on cached benchmark runs, without retraining Donut.

Candidates: Donut alone, the robust z-score and spectral residual alone, fixed weightings of
max(Donut, z), and the scores of train.donut_bundle.COMBOS (the largest of their scaled parts);
pools: a per-series choice among candidates by their validation best F1 (as `train kpi --score
auto` does with train.kpi_defaults.AUTO_MENU).

For every series cached by `python -m benchmarks.kpi_benchmark run` (its .npz holds Donut's validation and
test scores per variant), each candidate score is built from validation/training information only
(its scales are quantiles of the validation part's normal scores), its threshold is chosen by the
bundle's rule (train/series_threshold.py) on the validation part, and the test part gives the
figures: best F1 (tuned on test: an upper bound) and F1 at that threshold, delay-7 adjusted.

Which candidate wins is decided on training data only (`--select`): each candidate's threshold is
chosen on the first half of the validation part and its F1 measured on the second half, as
`kpi_benchmark.py rules` does; the test columns are reported beside it, never used to choose.

  .venv/bin/python -m benchmarks.studies.kpi_combine_choice --tag cut [--variant int8]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.kpi_protocol import DELAY, f1_adjusted_at, load_labelled, split
from edge.detectors.kpi_combine import (
    combine_parts,
    combined_scores,
    fit_part_scales,
    fit_scales,
    series_dzscore,
    series_zscore,
)
from edge.detectors.spectral_residual import WINDOW as SR_WINDOW
from edge.detectors.spectral_residual import series_sr
from train.donut_bundle import COMBOS
from train.kpi_defaults import AUTO_MENU
from train.series_metrics import adjusted_f1_curve, segments
from train.series_threshold import choose_threshold

ROOT = Path(__file__).resolve().parents[2]


def _best(s: np.ndarray, y: np.ndarray) -> float | None:
    keep = ~np.isnan(s)
    return float(adjusted_f1_curve(s[keep], y[keep], DELAY)[1].max()) if y[keep].any() else None


CAP = 99.9
FALLBACK = [99.9]  # the percentile rule without validation labels (--fallback)


def _at(s_valid: np.ndarray, y_valid: np.ndarray, s_test: np.ndarray, y_test: np.ndarray,
        cap: float | None = None) -> float | None:
    keep = ~np.isnan(s_valid)
    threshold, _ = choose_threshold(s_valid[keep], y_valid[keep], delay=DELAY, percentile=FALLBACK[0],
                                    cap_percentile=cap or CAP)
    return f1_adjusted_at(s_test, y_test, threshold)


def _halves(s: np.ndarray, y: np.ndarray, cap: float | None = None) -> float | None:
    """Threshold on the first half of the validation part, adjusted F1 on the second half."""
    half = len(s) // 2
    if not segments(y[:half]) or not y[half:].any():
        return None
    return _at(s[:half], y[:half], s[half:], y[half:], cap)


def _blind_halves(s: np.ndarray, y: np.ndarray, percentile: float) -> float | None:
    half = len(s) // 2
    if not y[half:].any():
        return None
    return _blind_at(s[:half], s[half:], y[half:], percentile)


def _blind_at(s_valid: np.ndarray, s_test: np.ndarray, y_test: np.ndarray, percentile: float) -> float | None:
    keep = ~np.isnan(s_valid)
    threshold, _ = choose_threshold(s_valid[keep], np.zeros(keep.sum(), bool), percentile=percentile)
    return f1_adjusted_at(s_test, y_test, threshold)


def candidates(donut_v: np.ndarray, donut_t: np.ndarray, z_v: np.ndarray, z_t: np.ndarray,
               y_v: np.ndarray, sr_v: np.ndarray, sr_t: np.ndarray, dz_v: np.ndarray,
               dz_t: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (validation scores, test scores); scales from the validation part's normal scores.

    dz: the difference z-score over SR_WINDOW points, as a bundle with spectral residual computes it
    (so COMBOS with it but without spectral residual, served on short series only, are left out).
    """
    out = {"donut": (donut_v, donut_t), "robust_z": (z_v, z_t), "sr": (sr_v, sr_t), "dz": (dz_v, dz_t)}
    valid = {"donut": donut_v, "zscore": z_v, "sr": sr_v, "dzscore": dz_v}
    test = {"donut": donut_t, "zscore": z_t, "sr": sr_t, "dzscore": dz_t}
    for name, parts in COMBOS.items():
        if len(parts) > 1 and ("sr" in parts or "dzscore" not in parts):
            scales = fit_part_scales({p: valid[p] for p in parts}, y_v)
            out[name] = (combine_parts(valid, scales), combine_parts(test, scales))
    for weight in (0.5, 1.0, 2.0):
        for power in (1.0, 0.5):
            scales = fit_scales(donut_v, z_v, y_v, z_weight=weight, donut_power=power)
            out[f"max w={weight} p={power}"] = (combined_scores(donut_v, z_v, scales),
                                                combined_scores(donut_t, z_t, scales))
    return out


POOLS = {"select donut|z": ("donut", "robust_z"), "select donut|z|max": ("donut", "robust_z", "max w=1.0 p=0.5"),
         "auto before": ("donut", "donut+z"), "auto": AUTO_MENU,  # train kpi --score auto, before and now
         "select all": ("donut", "donut+z", "donut+z+sr", "z+sr"), "select z+sr|donut+z+sr": ("z+sr", "donut+z+sr"),
         "select z+sr|donut+z+sr|donut": ("z+sr", "donut+z+sr", "donut"), "select z+sr|donut": ("z+sr", "donut"),
         "select donut+z+sr|z+sr": ("donut+z+sr", "z+sr"),
         "select z+sr|donut+z+sr|donut+z": ("z+sr", "donut+z+sr", "donut+z"),
         "select z+sr+dz|donut": ("z+sr+dz", "donut"), "select z+sr+dz|z+sr|donut": ("z+sr+dz", "z+sr", "donut"),
         "select z+sr|z+sr+dz|donut": ("z+sr", "z+sr+dz", "donut"), "select z+sr|z+sr+dz": ("z+sr", "z+sr+dz")}


def _valid_best(s: np.ndarray, y: np.ndarray) -> float:
    """Best adjusted F1 on validation labels, rounded as train.donut_bundle.score_choice rounds it (ties alike)."""
    keep = ~np.isnan(s)
    return round(float(adjusted_f1_curve(s[keep], y[keep], DELAY)[1].max()), 4) if segments(y[keep]) else -1.0


def _select(cands: dict[str, tuple[np.ndarray, np.ndarray]], pool: tuple[str, ...], y_v: np.ndarray,
            y_t: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """The pool member with the best validation best-F1 (the first on ties or without labels)."""
    half = len(y_v) // 2
    first = [_valid_best(cands[n][0][:half], y_v[:half]) for n in pool]
    pick_h = pool[int(np.argmax(first))]
    whole = [_valid_best(cands[n][0], y_v) for n in pool]
    pick = pool[int(np.argmax(whole))]
    sv, st = cands[pick]
    return (_halves(cands[pick_h][0], y_v), _best(st, y_t), _at(sv, y_v, st, y_t))


def smoothed(s: np.ndarray, k: int) -> np.ndarray:
    """Trailing mean over k points (NaN kept where the point is NaN)."""
    if k <= 1:
        return s
    filled = np.where(np.isnan(s), np.nanmedian(s), s)
    c = np.concatenate([[0.0], np.cumsum(filled)])
    out = np.empty_like(filled)
    out[k - 1:] = (c[k:] - c[:-k]) / k
    out[: k - 1] = c[1:k] / np.arange(1, k)
    return np.where(np.isnan(s), np.nan, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default="cut")
    parser.add_argument("--variant", default="int8")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "kpi-bench")
    parser.add_argument("--smooth", type=int, nargs="*", default=[1])
    parser.add_argument("--caps", type=float, nargs="*", default=[], help="threshold caps (percentiles) beside 99.9")
    parser.add_argument("--percentiles", type=float, nargs="*", default=[], help="label-blind percentile rules")
    parser.add_argument("--fallback", type=float, default=99.9, help="percentile rule of series without labels")
    parser.add_argument("--only", nargs="*", default=[], help="only these candidates")
    parser.add_argument("--table", nargs="*", default=[], help="print a per-series markdown table of these")
    args = parser.parse_args()
    FALLBACK[0] = args.fallback
    rows: dict[str, dict[str, tuple[float | None, float | None, float | None]]] = {}
    for npz in sorted((args.out / args.tag / "aiops").glob("*.npz")):
        stored = np.load(npz)
        series = load_labelled(args.data / "kpi-aiops2018" / f"{npz.stem}.csv")
        train, test = split(series)
        cut = len(train.values)
        v0 = cut - int(cut * 0.3)
        z = series_zscore(series.values, series.missing, 120)
        sr = series_sr(series.values, series.missing)
        dz = series_dzscore(series.values, series.missing, SR_WINDOW)
        keep_v = ~series.missing[v0:cut]
        y_v = series.labels[v0:cut][keep_v]
        y_t = test.labels & ~test.missing
        d_v, d_t = stored[f"{args.variant}_scores"], stored[f"test_{args.variant}_scores"]
        cands = candidates(d_v, d_t, z[v0:cut][keep_v], z[cut:], y_v, sr[v0:cut][keep_v], sr[cut:],
                           dz[v0:cut][keep_v], dz[cut:])
        row = {}
        for name, (sv, st) in cands.items():
            if args.only and name not in args.only:
                continue
            for k in args.smooth:
                fn: Callable[[np.ndarray], np.ndarray] = lambda a, k=k: smoothed(a, k)  # noqa: E731
                sv_k, st_k = fn(sv), fn(st)
                label = name if k == 1 else f"{name} smooth{k}"
                row[label] = (_halves(sv_k, y_v), _best(st_k, y_t), _at(sv_k, y_v, st_k, y_t))
                for cap in args.caps:
                    row[f"{label} cap{cap:g}"] = (_halves(sv_k, y_v, cap), row[label][1],
                                                  _at(sv_k, y_v, st_k, y_t, cap))
                for pct in args.percentiles:  # as if no series had labels: the percentile rule alone
                    row[f"{label} blind p{pct:g}"] = (
                        _blind_halves(sv_k, y_v, pct),
                        row[label][1], _blind_at(sv_k, st_k, y_t, pct))
        for pool_name, pool in POOLS.items() if not args.only else ():
            row[pool_name] = _select(cands, pool, y_v, y_t)
        rows[npz.stem] = row
        print(npz.stem[:8], " ".join(f"{n}: {fmt(v)}" for n, v in row.items()), flush=True)
    names = next(iter(rows.values())).keys() if rows else []
    print(f"\nmean over {len(rows)} series ({args.variant}): valid-halves F1 (n) | test best F1* | test F1@thr")
    summary = {}
    for n in names:
        cols = [[r[n][i] for r in rows.values() if r[n][i] is not None] for i in range(3)]
        summary[n] = [float(np.mean(c)) if c else None for c in cols]
        print(f"{n:24s} {fmt(summary[n][0])} ({len(cols[0])}) | {fmt(summary[n][1])} | {fmt(summary[n][2])}")
    if args.table:
        print(f"\n| series | {' | '.join(f'{n} best F1* | {n} F1@thr' for n in args.table)} |")
        print("|---|" + "---|---|" * len(args.table))
        for key, r in rows.items():
            print(f"| {key[:8]} | " + " | ".join(f"{fmt(r[n][1])} | {fmt(r[n][2])}" for n in args.table) + " |")
        print(f"| **mean of {len(rows)}** | " + " | ".join(f"{fmt(summary[n][1])} | {fmt(summary[n][2])}"
                                                       for n in args.table) + " |")
    if not args.only:
        leave_one_series_out(rows)
    (args.out / args.tag / f"combine-{args.variant}.json").write_text(json.dumps({"series": rows, "mean": summary},
                                                                                  indent=1) + "\n")
    return 0


def leave_one_series_out(rows: dict[str, dict[str, tuple[float | None, float | None, float | None]]]) -> None:
    """Each series' test figures under the score or menu with the best valid-halves mean on the other series."""
    names = [n for n in next(iter(rows.values())) if n in COMBOS or n in POOLS]
    picks, figures = [], []
    for key in rows:
        def halves_mean(n: str, key: str = key) -> float:
            return float(np.mean([r[n][0] for k, r in rows.items() if k != key and r[n][0] is not None]))
        pick = max(names, key=halves_mean)
        picks.append(pick)
        figures.append((rows[key][pick][1] or 0.0, rows[key][pick][2] or 0.0))
    print(f"\nleave one series out (score or menu by valid-halves F1 on the others): picks {dict(Counter(picks))}; "
          f"test best F1* {np.mean([f[0] for f in figures]):.3f}, F1@thr {np.mean([f[1] for f in figures]):.3f}")


def fmt(v: object) -> str:
    if isinstance(v, tuple):
        return "/".join(fmt(x) for x in v)
    return "-" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    sys.exit(main())
