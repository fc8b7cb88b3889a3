"""`vigil train kpi`'s score and default variant, and the evidence for them.

Chosen on training data only: `python -m benchmarks.studies.kpi_combine_choice --tag cut --variant float32` on the 21
AIOps series (Donut's validation and test scores cached by `python -m benchmarks.kpi_benchmark run --score
donut`), each candidate's threshold picked on the first half of every series' validation part and
its delay-7 adjusted F1 measured on the second half (15 series have labels in both halves; a menu
also picks its score on the first half). Mean of that F1:

| score | valid-halves F1 |
|---|---|
| Donut alone | 0.752 |
| z+sr: max(robust z, spectral residual), fixed | 0.760 |
| donut+z+sr, fixed | 0.777 |
| z+sr+dz: max(robust z, spectral residual, robust z of the steps), fixed | 0.792 |
| auto before (Donut or donut+z by validation best F1) | 0.766 |
| menu z+sr or Donut (an earlier AUTO_MENU) | 0.812 |
| menu z+sr, z+sr+dz or Donut | 0.828 |
| menu z+sr+dz, z+sr or Donut | 0.835 |
| **menu z+sr+dz or Donut (AUTO_MENU)** | **0.835** |

Other scores, menus and fixed weightings scored 0.653-0.811; the tie went to the shorter menu. Picking
the score or menu by the valid-halves mean of the other 20 series gives this menu for all 21.
z+sr+dz comes first (a series without validation labels gets it, and it wins ties): it has
nothing to learn. The variant is float32: with Donut alone it leads on the same measure (0.752
against int8's 0.725), and a KPI point every 60 s costs a float32 model nothing that matters on
the gateway (real-time factor ~1e-6). The script prints the test-part figures beside these
(README); the validation column alone decided.
"""

from __future__ import annotations

import argparse

from edge.bundle.manifest import DeciderSettings

# the keys of train.donut_bundle.COMBOS, and auto
SCORES = ("auto", "donut", "donut+z", "donut+z+sr", "z+sr", "z", "z+sr+dz", "z+dz")
DEFAULT_SCORE = "auto"
AUTO_MENU = ("z+sr+dz", "donut")  # "auto"'s candidates, in order of preference (the first without labels)
DEFAULT_VARIANT = "float32"
DEFAULT_ALARMS_PER_DAY = 1.0  # --threshold evt: see reports/kpi-series.md for what it gives
# The gateway's events of a KPI bundle: one point over the threshold opens one, one under it closes it,
# as the threshold was chosen (point by point). With the Decider's default (3 windows to open and to
# close) the events' delay-7 adjusted F1 on the validation halves was 0.388 against 0.769 (15 AIOps series;
# the points over the threshold: 0.770), with 1 to open and 3 to close 0.767; anomalies of 1-2 points got
# no event (`python -m benchmarks.studies.kpi_hold_drift`, reports/kpi-series.md).
KPI_DECIDER = DeciderSettings(on_windows=1, off_windows=1)


def kpi_defaults(parser: argparse.ArgumentParser) -> None:
    """Add --score and --variant to `train kpi`."""
    parser.add_argument("--score", choices=SCORES, default=DEFAULT_SCORE,
                        help="donut: Donut's reconstruction score; z: a rolling robust z-score; donut+z, "
                             "donut+z+sr, z+sr, z+sr+dz, z+dz: the largest of these parts (Donut, a rolling "
                             "robust z-score, spectral residual, a robust z-score of the steps), each scaled by its "
                             f"validation normal scores; auto: whichever of {', '.join(AUTO_MENU)} has the best F1 "
                             f"on the validation labels, {AUTO_MENU[0]} without labels (default {DEFAULT_SCORE})")
    parser.add_argument("--threshold", choices=("labels", "evt"), default="labels",
                        help="labels: the best adjusted F1 on labelled validation anomalies, else --percentile "
                             "(default); evt: without labels, extreme-value theory on the validation scores for "
                             "--alarms-per-day")
    parser.add_argument("--alarms-per-day", type=float, default=DEFAULT_ALARMS_PER_DAY,
                        help="with --threshold evt: normal points expected over the threshold per day "
                             f"(default {DEFAULT_ALARMS_PER_DAY:g})")
    parser.add_argument("--variant", choices=("float32", "int8"), default=DEFAULT_VARIANT,
                        help=f"the bundle's default variant for score/serve (default {DEFAULT_VARIANT}; "
                             "both are exported)")
