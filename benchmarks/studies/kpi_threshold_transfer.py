"""Why the validation-chosen KPI threshold misses on the test part, and threshold rules compared.

On every series cached by `python -m benchmarks.kpi_benchmark run --score donut` (its .npz holds
Donut's validation and test scores), the score `train kpi --score auto` serves is rebuilt without
retraining (benchmarks.studies.kpi_combine_choice.candidates; the menu train.kpi_defaults.AUTO_MENU,
picked on the validation labels). Then, per series:

- diagnostics (test labels used for reading only): the ratio of the test part's normal-score
  99.9th percentile to the validation part's (score-scale drift), the anomaly share of both parts,
  the threshold against the best test threshold, precision and recall (delay-7 adjusted) at it;
- each threshold rule of RULES, chosen on the first half of the validation part and scored on
  its second half (delay-7 adjusted F1; "valid-halves", the figure that decides), and chosen on
  the whole validation part and scored on the test part (reported, never used to choose).

  .venv/bin/python -m benchmarks.studies.kpi_threshold_transfer --tag cut --out /tmp/kpi-bench
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.kpi_protocol import DELAY, load_labelled, split
from benchmarks.studies.kpi_combine_choice import candidates
from edge.detectors.kpi_combine import series_dzscore, series_zscore
from edge.detectors.spectral_residual import WINDOW as SR_WINDOW
from edge.detectors.spectral_residual import series_sr
from train.donut_bundle import score_choice
from train.kpi_defaults import AUTO_MENU
from train.series_metrics import adjust, adjusted_f1_curve, point_metrics, segments
from train.series_threshold import choose_threshold, evt_threshold

ROOT = Path(__file__).resolve().parents[2]
Rule = Callable[[np.ndarray, np.ndarray, int], float]  # (scores, labels, interval s) -> threshold


def _alarms(per_day: float) -> Rule:
    return lambda s, y, step: evt_threshold(s[~y], per_day * step / 86400.0)


def _evt_q(risk: float) -> Rule:
    """The 1 - risk quantile of the normal scores from the fitted tail (EVT) instead of the empirical
    one: on a 300 s series' 2,600 validation points the 99.9th percentile is the 3rd-highest score."""
    return lambda s, y, step: evt_threshold(s[~y], risk)


def _f1_or(fallback: Rule, **kw: float) -> Rule:
    """The F1 rule where the part has labelled segments, else `fallback`."""
    def rule(s: np.ndarray, y: np.ndarray, step: int) -> float:
        if not segments(y):
            return fallback(s, y, step)
        return choose_threshold(s, y, delay=DELAY, **kw)[0]
    return rule


def _floor(rule: Rule, floor: Rule) -> Rule:
    return lambda s, y, step: max(rule(s, y, step), floor(s, y, step))


def _cap(rule: Rule, cap: Rule) -> Rule:
    return lambda s, y, step: min(rule(s, y, step), cap(s, y, step))


def _choice(*names: str) -> Rule:
    """Per series, the rule of `names` with the best F1 when set on the first half of the scores
    given and scored on their second half (the first on ties, or without labels in both halves),
    then set on all of them: a choice from validation data only."""
    def rule(s: np.ndarray, y: np.ndarray, step: int) -> float:
        half = len(s) // 2
        best, pick = -1.0, names[0]
        if segments(y[:half]) and y[half:].any():
            for name in names:
                f = f1_at(s[half:], y[half:], RULES[name](s[:half], y[:half], step))
                if f is not None and f[0] > best + 1e-9:
                    best, pick = f[0], name
        return RULES[pick](s, y, step)
    return rule


def _recent(extrapolate: bool) -> Rule:
    """The F1 rule capped at the 99.9th percentile of the later half's normal scores (the most recent
    scale), or that times the later/earlier ratio (the scale's drift carried on one more half)."""
    def rule(s: np.ndarray, y: np.ndarray, step: int) -> float:
        half = len(s) // 2
        early, late = (float(np.percentile(p[~q], 99.9)) for p, q in ((s[:half], y[:half]), (s[half:], y[half:])))
        cap = late * (late / early if extrapolate and early > 0 and late > 0 else 1.0)
        return min(_f1_or(_p(99.9), cap_percentile=100.0)(s, y, step), cap) if segments(y) else cap
    return rule


def _p(q: float) -> Rule:
    return lambda s, y, step: float(np.percentile(s[~y], q))


def _robust(ratio: float, worst: bool = False) -> Rule:
    """The F1 rule made tolerant of a drift of the score's scale: the threshold t (under the
    99.9th-percentile cap) whose adjusted F1, averaged (or its minimum with `worst`) over t times 9
    factors from 1/ratio to ratio, is best (the lowest such t). Without labels: the 99.9th percentile."""
    def rule(s: np.ndarray, y: np.ndarray, step: int) -> float:
        if not segments(y):
            return _p(99.9)(s, y, step)
        cand, f1 = adjusted_f1_curve(s, y, DELAY)  # descending; f1[i] flags score >= cand[i]
        ascending = cand[::-1]
        grid = cand[1:][cand[1:] > 0]  # "score > cand[i + 1]" flags score >= cand[i]
        if not grid.size:
            return RULES["current"](s, y, step)

        def f1_over(t: np.ndarray) -> np.ndarray:
            above = cand.size - np.searchsorted(ascending, t, side="right")  # cand > t
            return np.where(above > 0, f1[np.maximum(above - 1, 0)], 0.0)

        factors = np.geomspace(1.0 / ratio, ratio, 9)
        table = np.stack([f1_over(grid * c) for c in factors])
        smooth = table.min(axis=0) if worst else table.mean(axis=0)
        best = np.flatnonzero(smooth >= smooth.max() - 1e-12)
        return min(float(grid[best].min()), float(np.percentile(s[~y], 99.9)))
    return rule


RULES: dict[str, Rule] = {
    "current": lambda s, y, step: choose_threshold(s, y, delay=DELAY)[0],
    "p99.9": _p(99.9),
    "evt 1/day": _alarms(1.0), "evt 3/day": _alarms(3.0), "evt 10/day": _alarms(10.0),
    "f1|evt1": _f1_or(_alarms(1.0)),
    "f1 floor p99": _floor(_f1_or(_p(99.9)), _p(99.0)),
    "f1 floor p99.5": _floor(_f1_or(_p(99.9)), _p(99.5)),
    "f1 floor p99.9": _floor(_f1_or(_p(99.9)), _p(99.9)),
    "f1 cap p99.99": _f1_or(_p(99.9), cap_percentile=99.99),
    "f1 cap p99.7": _f1_or(_p(99.9), cap_percentile=99.7),
    "f1 cap p99.5": _f1_or(_p(99.9), cap_percentile=99.5),
    "f1 cap p99": _f1_or(_p(99.9), cap_percentile=99.0),
    "f1 cap evt3": _cap(_f1_or(_p(99.9), cap_percentile=100.0), _alarms(3.0)),
    "f1 cap evt10": _cap(_f1_or(_p(99.9), cap_percentile=100.0), _alarms(10.0)),
    "f1 floor evt10": _floor(_f1_or(_alarms(1.0)), _alarms(10.0)),
    "f1 floor evt3": _floor(_f1_or(_alarms(1.0)), _alarms(3.0)),
}
RULES |= {f"robust {'min' if w else 'mean'} x{r:g}": _robust(r, w)
          for r in (1.25, 1.5, 2.0, 3.0) for w in (False, True)}
RULES |= {f"evt q{100 * (1 - r):g}": _evt_q(r) for r in (1e-3, 5e-4)}
RULES |= {f"f1 cap evt q{100 * (1 - r):g}": _cap(_f1_or(_evt_q(r), cap_percentile=100.0), _evt_q(r))
          for r in (1e-3, 5e-4)}
RULES |= {"cap recent p99.9": _recent(False), "cap drift-extrapolated p99.9": _recent(True)}
RULES |= {"choice current|cap p99.99": _choice("current", "f1 cap p99.99"),
          "choice current|evt1": _choice("current", "evt 1/day"),
          "choice current|cap p99.99|evt1": _choice("current", "f1 cap p99.99", "evt 1/day"),
          "choice current|p99.9|cap p99.99": _choice("current", "p99.9", "f1 cap p99.99")}


def f1_at(s: np.ndarray, y: np.ndarray, t: float) -> tuple[float, float, float] | None:
    """(adjusted F1, precision, recall) of "score > t"; NaN scores left out; None without anomalies."""
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep].astype(bool)
    if not y.any():
        return None
    p = adjust(s > t, y, DELAY)
    tp, fp, fn = float((p & y).sum()), float((p & ~y).sum()), float((~p & y).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1.0), tp / max(tp + fp, 1.0), tp / max(tp + fn, 1.0)


def _parts(cache: Path, values: np.ndarray, missing: np.ndarray, start: int) -> tuple[np.ndarray, ...]:
    """Robust z, spectral residual and difference z (n,) each, NaN before `start` (only the validation
    and test parts are needed; the window before `start` is their context), cached under aiops-parts/:
    spectral residual over 720-point windows at every point takes a while."""
    if cache.exists():
        stored = np.load(cache)
        return stored["z"], stored["sr"], stored["dz"]
    a = max(start - SR_WINDOW, 0)
    pad = np.full(a, np.nan)
    z = np.concatenate([pad, series_zscore(values[a:], missing[a:], 120)])
    sr = np.concatenate([pad, series_sr(values[a:], missing[a:])])
    dz = np.concatenate([pad, series_dzscore(values[a:], missing[a:], SR_WINDOW)])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, z=z, sr=sr, dz=dz)
    return z, sr, dz


def load_case(npz: Path, data: Path, variant: str, donut: bool) -> dict[str, Any]:
    """One series: candidate scores {name: (validation (m,), test (n,))}, validation labels (m,) (missing
    points left out), test labels (n,), interval s and the auto menu's pick (on the validation labels)."""
    key = npz.stem
    series = load_labelled(data / "kpi-aiops2018" / f"{key}.csv")
    train, test = split(series)
    cut = len(train.values)
    v0 = cut - int(cut * 0.3)
    keep_v = ~series.missing[v0:cut]
    y_v = series.labels[v0:cut][keep_v]
    z, sr, dz = _parts(npz.parent.with_name("aiops-parts") / npz.name, series.values, series.missing, v0)
    if donut:
        stored = np.load(npz)
        d_v, d_t = stored[f"{variant}_scores"], stored[f"test_{variant}_scores"]
    else:
        d_v, d_t = np.zeros(int(keep_v.sum())), np.zeros(len(test.values))
    cands = candidates(d_v, d_t, z[v0:cut][keep_v], z[cut:], y_v, sr[v0:cut][keep_v], sr[cut:],
                       dz[v0:cut][keep_v], dz[cut:])
    menu = AUTO_MENU if donut else AUTO_MENU[:1]
    return {"cands": cands, "y_v": y_v, "y_t": test.labels & ~test.missing, "donut": donut,
            "step": int(series.position[1] - series.position[0]),
            "pick": score_choice({n: cands[n][0] for n in menu}, y_v)["chosen"]}


def served(case: dict[str, Any], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(validation scores, validation labels, test scores, test labels) of a candidate, unscored
    validation points left out."""
    sv, st = case["cands"][name]
    ok = ~np.isnan(sv)
    return sv[ok], case["y_v"][ok], st, case["y_t"]


TABLE = (("f1_at_threshold_adjusted", "F1@thr adj."), ("f1_at_threshold", "F1@thr point"),
         ("event_precision", "event P"), ("event_recall", "event R"), ("auc_pr", "AUC-PR"),
         ("best_f1_adjusted", "best F1* adj."))


def table(cases: dict[str, dict[str, Any]], rule: str, alarms: float) -> None:
    """Per series and mean: the figures of Donut, the served auto score, the z-score and spectral
    residual (thresholds by `rule` on their validation scores) and the label-free z+sr+dz with EVT."""
    methods = {"Donut": lambda c: "donut", "auto": lambda c: c["pick"], "robust z": lambda c: "robust_z",
               "SR": lambda c: "sr", f"label-free evt {alarms:g}/day": lambda c: AUTO_MENU[0]}
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for key, case in cases.items():
        rows[key] = {}
        for label, pick in methods.items():
            if label == "Donut" and not case["donut"]:
                continue
            sv, yv, st, yt = served(case, pick(case))
            if label.startswith("label-free"):
                threshold = _alarms(alarms)(sv, np.zeros_like(yv), case["step"])
            else:
                threshold = RULES[rule](sv, yv, case["step"])
            rows[key][label] = point_metrics(st, yt, threshold, delay=DELAY)
    means = {}
    for label in methods:
        print(f"\n{label} (rule {rule if not label.startswith('label-free') else 'evt'}):")
        print("| series | test points (anom., segments) | " + " | ".join(h for _, h in TABLE) + " |\n|---|---|"
              + "---|" * len(TABLE))
        sums: dict[str, list[float]] = {}
        for key, row in rows.items():
            m = row.get(label)
            if m is None or m.get("auc") is None:
                continue
            cells = []
            for k, _ in TABLE:
                cells.append("n/a" if m.get(k) is None else f"{m[k]:.3f}")
                if m.get(k) is not None:
                    sums.setdefault(k, []).append(float(m[k]))
            counts = f"{m['points']} ({m['anomalous_points']}, {m['segments']})"
            print(f"| {key[:8]} | {counts} | " + " | ".join(cells) + " |")
        n = len(sums.get("auc_pr", []))
        means[label] = " | ".join(f"{np.mean(sums[k]):.3f}" if k in sums else "n/a" for k, _ in TABLE)
        print(f"| **mean of {n}** | | {means[label]} |")
    print("\n| score | " + " | ".join(h for _, h in TABLE) + " |\n|---|" + "---|" * len(TABLE))
    for label, cells in means.items():
        print(f"| {label} | {cells} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default="cut")
    parser.add_argument("--variant", default="float32")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "kpi-bench")
    parser.add_argument("--no-donut", action="store_true", help="every series, the menu's first score alone")
    parser.add_argument("--table", choices=tuple(RULES), help="print the figures table at this rule instead")
    parser.add_argument("--alarms-per-day", type=float, default=1.0, help="--table: the label-free rule's rate")
    args = parser.parse_args()
    if args.no_donut:
        npzs = [args.out / args.tag / "aiops" / f"{p.stem}.npz"
                for p in sorted((args.data / "kpi-aiops2018").glob("*-*-*-*-*.csv"))]
    else:
        npzs = sorted((args.out / args.tag / "aiops").glob("*.npz"))
    cases = {npz.stem: load_case(npz, args.data, args.variant, not args.no_donut) for npz in npzs}
    if args.table:
        table(cases, args.table, args.alarms_per_day)
        return 0
    halves: dict[str, list[float]] = {r: [] for r in RULES}
    tests: dict[str, list[float]] = {r: [] for r in RULES}
    print("series   score drift  anom%v anom%t  thr/best  P@thr  R@thr | rule: halves/test F1")
    for key, case in cases.items():
        sv, yv, st, yt = served(case, case["pick"])
        step = case["step"]
        keep_t = ~np.isnan(st)
        drift = np.percentile(st[keep_t][~yt[keep_t]], 99.9) / max(np.percentile(sv[~yv], 99.9), 1e-9)
        t_now = RULES["current"](sv, yv, step)
        cand, f1 = adjusted_f1_curve(st[keep_t], yt[keep_t], DELAY)
        best_t = float(cand[int(np.argmax(f1))]) if yt.any() else float("nan")
        now = f1_at(st, yt, t_now)
        half = len(sv) // 2
        cells = []
        for name, rule in RULES.items():
            h = f1_at(sv[half:], yv[half:], rule(sv[:half], yv[:half], step)) if segments(yv[:half]) else None
            t = f1_at(st, yt, rule(sv, yv, step))
            if h is not None:
                halves[name].append(h[0])
            if t is not None:
                tests[name].append(t[0])
            cells.append(f"{'-' if h is None else f'{h[0]:.2f}'}/{'-' if t is None else f'{t[0]:.2f}'}")
        print(f"{key[:8]} {case['pick']:7s} {drift:5.2f} {100 * yv.mean():6.2f} "
              f"{100 * yt.mean():6.2f} {t_now:6.2f}/{best_t:6.2f} "
              f"{'-' if now is None else f'{now[1]:.2f}  {now[2]:.2f}'} | "
              + " ".join(f"{n}: {c}" for n, c in zip(RULES, cells, strict=True)), flush=True)
    print(f"\nmean: valid-halves F1 (n={len(halves['current'])}) | test F1@thr (n={len(tests['current'])})")
    for name in RULES:
        print(f"{name:18s} {np.mean(halves[name]):.3f} | {np.mean(tests[name]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
