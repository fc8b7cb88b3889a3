"""KPI alarms that must hold for N points, scores normalised by their own recent history, and a
per-series choice among them, compared on the cached benchmark runs without retraining.

Each candidate is a causal transform of the served score (`train kpi --score auto`, rebuilt as
benchmarks.studies.kpi_threshold_transfer does) followed by a threshold rule of that study's RULES
on the transformed validation scores. Transforms run over the scored points in time order,
validation part then test part (the test part continues the validation part), missing points
skipped, as a gateway would run them on its stream of scores:

- "hold k/N": the k-th largest of the last N scores (k = N: every one of the last N over the
  threshold, an alarm that must hold for N points); the first N - 1 points of the stream are unscored;
- "norm qQ D": (s - median) / (Q-th percentile - median) of the previous D scored points (a day:
  1440 points at 60 s, 288 at 300 s), so a drift of the score's scale between validation and test
  is divided out before the threshold; unscored until MIN_HISTORY points are seen; "floor f": that
  spread at least f times the fitting part's (a flat day would otherwise divide by ~0);
- "choice A|B|...": per series, the candidate that did best when its threshold was set on the first
  half of the data given and scored on the second half (the first on ties or without labels in
  both halves), then set on all of it: a choice from validation data only.

The decision protocol is that study's: threshold (and choice) on the first half of each validation
part, delay-7 adjusted F1 on its second half, the 15 series with labels in both halves
("valid-halves", the figure that decides; a candidate replaces the served rule only if it gains
0.03 or more); the test columns (threshold set on the whole validation part) are reported, never
used to choose.

Beside them, "gateway events": the served score at the bundle's threshold decided by the gateway's
Decider with a given debounce (points to open, points to close), the points inside its events
scored as the flagged points (what a user of `vigil run` gets, train.kpi_defaults.KPI_DECIDER).

  .venv/bin/python -m benchmarks.studies.kpi_hold_drift --out /tmp/kpi-work/kpi-bench [--table NAME]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.kpi_protocol import DELAY
from benchmarks.studies.kpi_threshold_transfer import RULES, f1_at, load_case, served
from edge.pipeline.decider import Decider
from train.series_metrics import adjust, event_metrics, point_metrics, segments

ROOT = Path(__file__).resolve().parents[2]
MIN_HISTORY = 60  # scored points before a normalised score exists
Transform = Callable[[np.ndarray, int, np.ndarray], np.ndarray]  # (scored points in time order (n,), interval s,
# the fitting part's scores (m,)) -> (n,)


def hold(k: int, n: int) -> Transform:
    """The k-th largest of the last n scores: over a threshold iff k of the last n were."""
    def transform(x: np.ndarray, step: int, fit: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.full(n - 1, -np.inf), x])
        out = np.sort(np.lib.stride_tricks.sliding_window_view(padded, n), axis=1)[:, n - k]
        out[: n - 1] = np.nan
        return out
    return transform


def normalise(q: float, days: float, floor: float = 0.0) -> Transform:
    """(s - median) / (q-th percentile - median) of the previous `days` of scored points; the
    denominator at least `floor` times the same spread of the fitting part's scores (a flat day
    has a spread of 0: every small deviation would otherwise score ~1e9)."""
    def transform(x: np.ndarray, step: int, fit: np.ndarray) -> np.ndarray:
        span = max(round(days * 86400 / step), MIN_HISTORY)
        low = max(floor * float(np.subtract(*np.percentile(fit, (q, 50.0)))), 1e-9)
        out = np.full(x.shape, np.nan)
        for b in range(MIN_HISTORY, min(span, x.size)):  # the first day: all points so far
            med, top = np.percentile(x[:b], (50.0, q))
            out[b] = (x[b] - med) / max(top - med, low)
        if x.size > span:
            views = np.lib.stride_tricks.sliding_window_view(x[:-1], span)  # row i: points i .. i + span - 1
            for a in range(0, views.shape[0], 4096):
                med, top = np.percentile(views[a : a + 4096], (50.0, q), axis=1)
                out[span + a : span + a + len(med)] = (x[span + a : span + a + len(med)] - med) / np.maximum(
                    top - med, low)
        return out
    return transform


ALL_TRANSFORMS: dict[str, Transform | None] = {
    "raw": None, "hold 2/2": hold(2, 2), "hold 3/3": hold(3, 3), "hold 5/5": hold(5, 5),
    "hold 2/3": hold(2, 3), "hold 3/5": hold(3, 5),
    "norm q90 1d": normalise(90.0, 1.0), "norm q99 1d": normalise(99.0, 1.0), "norm q99.9 1d": normalise(99.9, 1.0),
    "norm q90 3d": normalise(90.0, 3.0),
    "norm q90 1d floor .5": normalise(90.0, 1.0, 0.5), "norm q90 1d floor .1": normalise(90.0, 1.0, 0.1),
}
TRANSFORMS = dict(ALL_TRANSFORMS)  # --transforms: a subset
THRESHOLDS = ("current", "p99.9")  # rules of kpi_threshold_transfer.RULES on the transformed scores


def transformed(case: dict[str, Any], name: str, fit_end: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(validation scores, labels, test scores, labels) of the served score after transform `name`
    fitted on the validation scores before `fit_end` (None: all); points unscored after it (the start
    of the stream) left out of the validation part."""
    sv, yv, st, yt = served(case, case["pick"])
    fn = TRANSFORMS[name]
    if fn is None:
        return sv, yv, st, yt
    stream = np.concatenate([sv, st])
    ok = ~np.isnan(stream)
    out = np.full(stream.shape, np.nan)
    out[ok] = fn(stream[ok], case["step"], sv[:fit_end])
    tv, tt = out[: sv.size], out[sv.size :]
    keep = ~np.isnan(tv)
    return tv[keep], yv[keep], tt, yt


def _set_and_score(sv: np.ndarray, yv: np.ndarray, rule: str, step: int, s_eval: np.ndarray,
                   y_eval: np.ndarray) -> float | None:
    f = f1_at(s_eval, y_eval, RULES[rule](sv, yv, step))
    return None if f is None else f[0]


def choose(variants: dict[str, tuple[np.ndarray, np.ndarray]], names: tuple[str, ...], step: int) -> str:
    """Of candidates "transform @ rule" (their scores and labels on the data given), the best on its
    second half with the threshold set on its first half; the first on ties or without labels."""
    best, pick = -1.0, names[0]
    for name in names:
        s, y = variants[name.split(" @ ")[0]]
        half = len(s) // 2
        if not segments(y[:half]) or not y[half:].any():
            return names[0]
        f = _set_and_score(s[:half], y[:half], name.split(" @ ")[1], step, s[half:], y[half:])
        if f is not None and f > best + 1e-9:
            best, pick = f, name
    return pick


CHOICES = {"choice raw|hold 2/3|norm q90 1d": ("raw @ current", "hold 2/3 @ current", "norm q90 1d @ current"),
           "choice raw|norm q90 1d": ("raw @ current", "norm q90 1d @ current"),
           "choice raw|hold 2/3": ("raw @ current", "hold 2/3 @ current"),
           "choice raw|norm q99 1d": ("raw @ current", "norm q99 1d @ current"),
           "choice raw|norm q90 1d floor .5": ("raw @ current", "norm q90 1d floor .5 @ current"),
           "choice raw|norm q90 1d floor .1": ("raw @ current", "norm q90 1d floor .1 @ current")}


def evaluate(case: dict[str, Any]) -> dict[str, tuple[float | None, float | None, dict[str, Any]]]:
    """Candidate -> (valid-halves F1, test F1 at the threshold, test point_metrics at it)."""
    step = case["step"]
    data = {t: transformed(case, t) for t in TRANSFORMS}
    # the valid-halves protocol fits on the first half only (the first half of the scored points)
    halves = {t: transformed(case, t, len(served(case, case["pick"])[0]) // 2) if "floor" in t else data[t]
              for t in TRANSFORMS}  # only a floor depends on the fitting part
    out: dict[str, tuple[float | None, float | None, dict[str, Any]]] = {}
    plain = [f"{t} @ {r}" for t in TRANSFORMS for r in THRESHOLDS]
    for name in plain + [c for c, names in CHOICES.items() if all(n.split(" @ ")[0] in TRANSFORMS for n in names)]:
        if name in CHOICES:
            half_pick = choose({t: (d[0][: len(d[0]) // 2], d[1][: len(d[0]) // 2]) for t, d in halves.items()},
                               CHOICES[name], step)
            test_pick = choose({t: (d[0], d[1]) for t, d in data.items()}, CHOICES[name], step)
        else:
            half_pick = test_pick = name
        sv, yv, _, _ = halves[half_pick.split(" @ ")[0]]
        half = len(sv) // 2
        h = _set_and_score(sv[:half], yv[:half], half_pick.split(" @ ")[1], step, sv[half:], yv[half:]) \
            if segments(yv[:half]) else None
        sv, yv, st, yt = data[test_pick.split(" @ ")[0]]
        threshold = RULES[test_pick.split(" @ ")[1]](sv, yv, step)
        m = point_metrics(st, yt, threshold, delay=DELAY)
        out[name] = (h, m.get("f1_at_threshold_adjusted"), m | {"pick": test_pick})
    return out


def decider_points(scores: np.ndarray, threshold: float, on: int, off: int) -> np.ndarray:
    """Scores (n,) one point apart (NaN: unscored) -> (n,) bool: the points inside the events the gateway's
    Decider reports with this debounce (on_windows, off_windows; a KPI point is one window)."""
    decider = Decider(threshold, on_windows=on, off_windows=off)
    t = np.arange(scores.size, dtype=np.float64)
    events = decider.update(np.nan_to_num(scores, nan=-np.inf), t, 1.0) + decider.flush()
    flags = np.zeros(scores.size, bool)
    for e in events:
        flags[int(e.start_s) : int(e.end_s)] = True
    return flags


def _flag_figures(flags: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    def f1(p: np.ndarray) -> float:
        tp = float((p & y).sum())
        return 2 * tp / max(2 * tp + float((p & ~y).sum()) + float((~p & y).sum()), 1.0)
    return {"f1_at_threshold_adjusted": f1(adjust(flags, y, DELAY)), "f1_at_threshold": f1(flags)} | \
        event_metrics(flags, y)


DEBOUNCES = {"gateway events on=3 off=3": (3, 3), "gateway events on=1 off=3": (1, 3),
             "gateway events on=1 off=1": (1, 1)}


def gateway_events(case: dict[str, Any]) -> dict[str, tuple[float | None, float | None, dict[str, Any]]]:
    """The served score at the bundle's threshold ("current"), decided as the gateway decides events, per
    debounce: (valid-halves adjusted F1, test adjusted F1, test figures)."""
    sv, yv, st, yt = served(case, case["pick"])
    half = len(sv) // 2
    out: dict[str, tuple[float | None, float | None, dict[str, Any]]] = {}
    for name, (on, off) in DEBOUNCES.items():
        h = None
        if segments(yv[:half]):
            flags = decider_points(sv[half:], RULES["current"](sv[:half], yv[:half], case["step"]), on, off)
            h = _flag_figures(flags, yv[half:])["f1_at_threshold_adjusted"] if yv[half:].any() else None
        keep = ~np.isnan(st)
        flags = decider_points(st, RULES["current"](sv, yv, case["step"]), on, off)[keep]
        m = _flag_figures(flags, yt[keep]) if yt[keep].any() else {}
        out[name] = (h, m.get("f1_at_threshold_adjusted"), m | {"pick": name, "points": int(keep.sum()),
                                                               "anomalous_points": int(yt[keep].sum()),
                                                               "auc": 1.0 if m else None})
    return out


FIGURES = (("f1_at_threshold_adjusted", "F1@thr adj."), ("f1_at_threshold", "F1@thr point"),
           ("event_precision", "event P"), ("event_recall", "event R"), ("auc_pr", "AUC-PR"),
           ("best_f1_adjusted", "best F1* adj."))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default="cut")
    parser.add_argument("--variant", default="float32")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "kpi-bench")
    parser.add_argument("--series", nargs="*", default=[], help="only series whose key starts with these")
    parser.add_argument("--table", nargs="*", default=[], help="per-series figures tables of these candidates")
    parser.add_argument("--transforms", nargs="*", default=[], help="only these transforms (and raw)")
    args = parser.parse_args()
    if args.transforms:
        for name in set(ALL_TRANSFORMS) - {"raw", *args.transforms}:
            del TRANSFORMS[name]
    npzs = [p for p in sorted((args.out / args.tag / "aiops").glob("*.npz"))
            if not args.series or any(p.stem.startswith(s) for s in args.series)]
    results: dict[str, dict[str, tuple[float | None, float | None, dict[str, Any]]]] = {}
    for npz in npzs:
        case = load_case(npz, args.data, args.variant, True)
        results[npz.stem] = evaluate(case) | gateway_events(case)
        row = results[npz.stem]
        print(f"{npz.stem[:8]} {case['pick']:8s} " + " ".join(
            f"{n}: {'-' if h is None else f'{h:.2f}'}/{'-' if t is None else f'{t:.2f}'}"
            for n, (h, t, _) in row.items()), flush=True)
    names = list(next(iter(results.values())))
    more_heads = " | ".join(f"test {h}" for _, h in FIGURES[1:])
    print(f"\n| candidate | valid-halves F1 (n) | test F1@thr adj. (n) | {more_heads} |\n|---|---|---|"
          + "---|" * (len(FIGURES) - 1))
    for name in names:
        halves = [r[name][0] for r in results.values() if r[name][0] is not None]
        tests = [r[name][1] for r in results.values() if r[name][1] is not None]
        more = [np.mean([r[name][2][k] for r in results.values() if r[name][2].get(k) is not None])
                for k, _ in FIGURES[1:]]
        print(f"| {name} | {np.mean(halves):.3f} ({len(halves)}) | {np.mean(tests):.3f} ({len(tests)}) | "
              + " | ".join(f"{v:.3f}" for v in more) + " |")
    for name in args.table:
        print(f"\n{name}:\n| series | test points (anom., segments) | " + " | ".join(h for _, h in FIGURES)
              + " | valid-halves F1 | pick |\n|---|---|" + "---|" * (len(FIGURES) + 2))
        for key, row in results.items():
            h, _, m = row[name]
            if m.get("auc") is None:
                continue
            cells = " | ".join("n/a" if m.get(k) is None else f"{m[k]:.3f}" for k, _ in FIGURES)
            print(f"| {key[:8]} | {m['points']} ({m['anomalous_points']}, {m['segments']}) | {cells} | "
                  f"{'-' if h is None else f'{h:.3f}'} | {m['pick']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
