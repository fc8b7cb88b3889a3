"""`vigil train kpi`'s score and default variant, and the evidence for them.

Chosen on training data only (`scripts/kpi_combine.py`: each candidate's threshold picked on the
first half of every AIOps series' validation part, its adjusted F1 measured on the second half);
the test parts' figures are reported beside it in README, not used to choose.
"""

from __future__ import annotations

import argparse

SCORES = ("donut", "donut+z")
DEFAULT_SCORE = "donut"
DEFAULT_VARIANT = "int8"


def kpi_defaults(parser: argparse.ArgumentParser) -> None:
    """Add --score and --variant to `train kpi`."""
    parser.add_argument("--score", choices=SCORES, default=DEFAULT_SCORE,
                        help="donut: Donut's reconstruction score; donut+z: the larger of it and a rolling robust "
                             "z-score, each scaled by its validation normal scores (default "
                             f"{DEFAULT_SCORE})")
    parser.add_argument("--variant", choices=("int8", "float32"), default=DEFAULT_VARIANT,
                        help=f"the bundle's default variant for score/serve (default {DEFAULT_VARIANT}; "
                             "both are exported)")
