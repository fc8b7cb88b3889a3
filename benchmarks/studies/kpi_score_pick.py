"""Does `train kpi --score auto` pick its score better by the F1 a user gets than by the best F1?

`auto` picks, per series, the score of AUTO_MENU with the best delay-adjusted F1 on the validation
labels (the threshold tuned on the same points). The candidate here picks the score whose threshold,
set on the first half of the points given by the served rule (train.series_threshold), scores the
best F1 on their second half: the F1 at a transferred threshold, what the gateway serves. Both then
set the threshold on all the points given. Cached Donut and NumPy scores of the 21 AIOps series, as
benchmarks.studies.kpi_threshold_transfer loads them.

Two protocols, as that study's: valid-halves (the pick and the threshold from the first half of each
validation part only, the pick nested in it by its own halves; adjusted F1 on the second half; the 15
series with labels in both halves: the figure that decides) and test (from the whole validation part,
F1 on the test part: reported, never used to choose).

  .venv/bin/python -m benchmarks.studies.kpi_score_pick --out /tmp/kpi-work/kpi-bench
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.studies.kpi_threshold_transfer import RULES, f1_at, load_case, served
from train.donut_bundle import score_choice
from train.kpi_defaults import AUTO_MENU
from train.series_metrics import segments

ROOT = Path(__file__).resolve().parents[2]


def transferred_pick(case: dict[str, Any], stop: int, fallback: str) -> str:
    """The menu's score with the best F1 on the second half of validation points [0, stop) at the
    threshold the served rule sets on their first half; `fallback` without labels in both halves."""
    best, pick = -1.0, fallback
    for name in AUTO_MENU:
        sv, yv, _, _ = served(case, name)
        s, y = sv[:stop], yv[:stop]
        half = len(s) // 2
        if not (segments(y[:half]) and y[half:].any()):
            return fallback
        f = f1_at(s[half:], y[half:], RULES["current"](s[:half], y[:half], case["step"]))
        if f is not None and f[0] > best + 1e-9:
            best, pick = f[0], name
    return pick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tag", default="cut")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "kpi-bench")
    args = parser.parse_args()
    halves: dict[str, list[float]] = {"best F1 (served)": [], "F1 at a transferred threshold": []}
    tests: dict[str, list[float]] = {k: [] for k in halves}
    print("| series | served pick: test F1@thr | transferred pick: test F1@thr |\n|---|---|---|")
    for npz in sorted((args.out / args.tag / "aiops").glob("*.npz")):
        case = load_case(npz, args.data, "float32", True)
        n = len(served(case, AUTO_MENU[0])[0])
        cells = []
        for key, pick in zip(tests, (case["pick"], transferred_pick(case, n, case["pick"])), strict=True):
            sv, yv, st, yt = served(case, pick)
            t = f1_at(st, yt, RULES["current"](sv, yv, case["step"]))
            if t is not None:
                tests[key].append(t[0])
            cells.append(f"{pick} {'-' if t is None else f'{t[0]:.3f}'}")
        half = n // 2
        first = {m: served(case, m) for m in AUTO_MENU}
        if segments(first[AUTO_MENU[0]][1][:half]) and first[AUTO_MENU[0]][1][half:].any():
            fallback = score_choice({m: v[0][:half] for m, v in first.items()}, first[AUTO_MENU[0]][1][:half])["chosen"]
            for key, pick in zip(halves, (fallback, transferred_pick(case, half, fallback)), strict=True):
                sv, yv = first[pick][0], first[pick][1]
                h = f1_at(sv[half:], yv[half:], RULES["current"](sv[:half], yv[:half], case["step"]))
                if h is not None:
                    halves[key].append(h[0])
        print(f"| {npz.stem[:8]} | " + " | ".join(cells) + " |")
    print("\n| pick the score by | valid-halves F1 (n) | test F1@thr (n) |\n|---|---|---|")
    for key in halves:
        print(f"| {key} | {np.mean(halves[key]):.3f} ({len(halves[key])}) | {np.mean(tests[key]):.3f} "
              f"({len(tests[key])}) |")


if __name__ == "__main__":
    main()
