"""`vigil train kpi`'s score and default variant, and the evidence for them.

Chosen on training data only: `scripts/kpi_combine.py --tag cut` on the 21 AIOps series, each
candidate's threshold picked on the first half of every series' validation part and its delay-7
adjusted F1 measured on the second half (15 series have labels in both halves). Mean of that F1:

| score | float32 | int8 |
|---|---|---|
| Donut alone | 0.752 | 0.725 |
| max(Donut, robust z), fixed (best of 6 weightings, float32 / int8) | 0.756 | 0.752 |
| auto: Donut or max(Donut^0.5, z) per series, by validation best F1 | **0.766** | **0.786** |

"auto" leads on both variants. The variant is float32: with Donut alone it leads on the same
measure (0.752 against 0.725), int8 only approximates it, and a KPI point every 60 s costs a
float32 model nothing that matters on the gateway (real-time factor ~1e-6). Test-part figures are
in README beside these; they chose nothing.
"""

from __future__ import annotations

import argparse

SCORES = ("auto", "donut", "donut+z", "donut+z+sr", "z+sr", "z")  # the keys of train.donut_bundle.COMBOS and auto
DEFAULT_SCORE = "auto"
AUTO_MENU = ("z+sr", "donut")  # "auto"'s candidates, in order of preference (the first without labels)
DEFAULT_VARIANT = "float32"


def kpi_defaults(parser: argparse.ArgumentParser) -> None:
    """Add --score and --variant to `train kpi`."""
    parser.add_argument("--score", choices=SCORES, default=DEFAULT_SCORE,
                        help="donut: Donut's reconstruction score; z: a rolling robust z-score; donut+z, "
                             "donut+z+sr, z+sr: the largest of these "
                             "parts (Donut, a rolling robust z-score, spectral residual), each scaled by its "
                             f"validation normal scores; auto: whichever of {', '.join(AUTO_MENU)} has the best F1 "
                             f"on the validation labels, {AUTO_MENU[0]} without labels (default {DEFAULT_SCORE})")
    parser.add_argument("--variant", choices=("float32", "int8"), default=DEFAULT_VARIANT,
                        help=f"the bundle's default variant for score/serve (default {DEFAULT_VARIANT}; "
                             "both are exported)")
