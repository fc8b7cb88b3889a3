"""Missing samples (NaN) in fetal signal quality: a gap is flatline (lead-off) with the FHR missing, and it
leaves no false clipping, mains, motion or wander next to it, in the file path and in the live stream."""

from __future__ import annotations

import numpy as np
import pytest

from edge.fetal.quality import SIGNAL_KINDS, quality_scores
from edge.io.multilead import open_leads
from tests.conftest import ROOT
from tests.fetal_stream import run_chain

R04 = ROOT.parent / "shared" / "data" / "adfecgdb" / "r04.edf"
LABELS = ["Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4"]


def r04(seconds: int) -> np.ndarray:
    rec = open_leads(R04)
    x = np.concatenate(list(rec.blocks(60000)))[: seconds * 1000]
    rec.close()
    return x


def test_a_gap_is_flatline_inside_and_leaves_nothing_at_its_edges() -> None:
    """r04 with 2 s of every lead missing (a lost link) and, separately, 0.5 s of one lead (a gap in a file):
    before, the held samples' ends scored clipping 1.0 and wander up to 0.5 beside the gap."""
    x = r04(40)
    t, clean = quality_scores(x, 1000.0, LABELS)
    for leads, (a, b) in ((slice(None), (20000, 22000)), (slice(1, 2), (25000, 25500))):
        y = x.copy()
        y[a:b, leads] = np.nan
        t, s = quality_scores(y, 1000.0, LABELS)
        inside = (t >= a / 1000) & (t + 0.1 <= b / 1000)
        assert np.all(s[inside, 0, 1] == 1.0)  # flatline: the frame's share of missing samples
        near = ((t >= a / 1000 - 2) & (t + 0.1 <= a / 1000)) | ((t >= b / 1000) & (t < b / 1000 + 2))
        rise = (s[near, : len(SIGNAL_KINDS)] - clean[near, : len(SIGNAL_KINDS)]).max(axis=(0, 2))
        assert rise[SIGNAL_KINDS.index("flatline")] <= 0.0 and rise[SIGNAL_KINDS.index("clipping")] <= 0.0, rise
        assert max(rise[SIGNAL_KINDS.index(k)] for k in ("mains", "motion", "wander")) < 0.2, rise


@pytest.mark.slow  # a whole record, live
def test_lost_stretches_live_are_flatline_events_with_no_other_kind_beside_them() -> None:
    """The live chain (BLE frames, cold start) with 0.5 s and 3 s lost: a flatline event over each, the FHR
    missing there, and no clipping, mains or motion event within 2 s (before: the lost samples went to the
    quality monitor as zeros, and the 0.5 s gap's end made a clipping event)."""
    x = r04(45)
    # frames lost over the link
    got = run_chain(x, 23, lambda start: 20010 <= start < 20500 or 30015 <= start < 33005)
    flat = sorted((e.start_s, e.end_s) for e in got.kind("flatline"))
    assert len(flat) == 2 and flat[0][0] <= 20.1 and flat[0][1] >= 20.4, flat
    assert flat[1][0] <= 30.1 and flat[1][1] >= 32.9, flat
    assert all(got.masked_between(30.3, 32.7))
    beside = [e for k in ("clipping", "mains", "motion") for e in got.kind(k) if e.end_s > 18.0 and e.start_s < 35.0]
    assert not beside, beside


def after_outage(x: np.ndarray, lost: tuple[int, int]) -> dict[str, float]:
    """Seconds of motion and wander events after 62 s of a cold live stream of x with samples `lost` never sent."""
    got = run_chain(x, 230, lambda start: lost[0] <= start < lost[1])
    return {k: sum(e.end_s - max(e.start_s, 62.0) for e in got.kind(k) if e.end_s > 62.0) for k in ("motion", "wander")}


@pytest.mark.slow  # a whole record, live
def test_a_long_outage_does_not_move_the_typical_values() -> None:
    """40 s lost over the link after 20 s of a cold live stream: the lost frames stay out of the leads' typical
    values, so the clean signal after it is judged as without the outage (before: the zeros' features made up
    two thirds of the history, and motion and wander events covered the rest of the stream, 46 s of 2 x 23)."""
    x = r04(85)
    clean, lost = after_outage(x, (0, 0)), after_outage(x, (20000, 60000))
    assert lost["motion"] == clean["motion"] == 0.0
    assert lost["wander"] <= clean["wander"] + 5.0, (lost, clean)  # r04's own wander: 5.7 s without the outage
