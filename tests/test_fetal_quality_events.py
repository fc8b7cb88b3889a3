"""Fetal quality events follow a fault that lasts (FetalSettings: 10 s to open), not each short dip; the
per-frame scores, and so `vigil beats`' quality entries and the FHR mask, do not depend on the event rule."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edge.bundle.manifest_parts import FetalSettings
from edge.fetal.chain import FetalChain, quality_deciders
from edge.fetal.quality import KINDS, QualityConfig
from edge.io.multilead import open_leads
from tests.conftest import ROOT
from train.fetal_inject import _quality

R04 = ROOT.parent / "shared" / "data" / "adfecgdb" / "r04.edf"


def test_a_short_lead_off_raises_no_event_and_a_long_one_does() -> None:
    """r04's first 45 s, every abdominal lead flat (lead-off) at 6-9 s and at 20-33 s: a flatline event over
    the long one (and low_fetal: no fetal beat there); under the rule before (0.5 s to open) the short one
    raised its own."""
    rec = open_leads(R04)
    x = np.concatenate(list(rec.blocks(45000)))[:45000]
    rec.close()
    rng = np.random.default_rng(0)
    for a, b in ((6000, 9000), (20000, 33000)):
        for lead in range(x.shape[1]):
            _quality("flatline", x[:, lead], a, b, 1000.0, rng)
    chain = FetalChain(1000.0, list(rec.labels))
    chain.prime(x[i : i + 1000] for i in range(0, x.shape[0], 1000))
    outs = [chain.push(x[i : i + 1000]) for i in range(0, x.shape[0], 1000)] + [chain.finish()]
    quality = [e for o in outs for e in o.events if e.detector.removeprefix("fetal-") in KINDS]
    # the long one: flatline, and the fetal beats it stopped (low_fetal); nothing at the short one
    assert sorted(e.detector for e in quality) == ["fetal-flatline", "fetal-low_fetal"], quality
    assert all(19.5 <= e.start_s <= 21.0 and 32.0 <= e.end_s <= 34.5 for e in quality), quality
    # the same judged frames under the rule before: the short fault is an event of its own
    times = np.concatenate([o.frame_times for o in outs])
    overall = np.concatenate([o.frame_scores.max(axis=2) for o in outs if o.frame_scores is not None])
    before = quality_deciders(replace(FetalSettings(), quality_on_frames=5, quality_off_frames=10,
                                      quality_gap_frames=0), QualityConfig())["flatline"]
    flat = before.update(overall[:, KINDS.index("flatline")], times, 0.1) + before.flush()
    assert any(5.5 <= e.start_s <= 7.0 and 8.5 <= e.end_s <= 10.0 for e in flat), flat


def test_events_open_after_the_settings_hold_merge_short_pauses_and_skip_other_kinds() -> None:
    """A synthetic overall score series (0.1 s frames): motion over 0.5 for 3 s, then for 12 s, a 2 s pause,
    4 s more, then 12 s flickering (0.7 s over, 0.3 s under); wander (not an event kind by default) over its
    own threshold for 30 s."""
    times = np.arange(600) * 0.1
    overall = np.zeros((600, len(KINDS)), dtype=np.float32)
    motion, wander = KINDS.index("motion"), KINDS.index("wander")
    overall[50:80, motion] = 0.9  # 3 s: too short
    overall[200:320, motion] = 0.9  # 12 s, 2 s under, 4 s: one fault of 18 s
    overall[340:380, motion] = 0.9
    overall[450:570, motion] = np.where(np.arange(120) % 10 < 7, 0.9, 0.1)  # last frame over: 566
    overall[100:400, wander] = 0.45  # over 0.5 x wander_max (0.25)
    deciders = quality_deciders(FetalSettings(), QualityConfig())
    assert "wander" not in deciders and "mains" not in deciders
    events = deciders["motion"].update(overall[:, motion], times, 0.1) + deciders["motion"].flush()
    assert [(e.start_s, round(e.end_s, 6)) for e in events] == [(20.0, 38.0), (45.0, 56.7)], events
    # a user who wants the short ones and the wander back sets the bundle's fetal table so
    loose = quality_deciders(FetalSettings(quality_on_frames=5, quality_off_frames=10, quality_event_kinds=KINDS,
                                           quality_gap_frames=0), QualityConfig())
    assert len(loose["motion"].update(overall[:, motion], times, 0.1) + loose["motion"].flush()) == 4
    # fed in pieces of any size, the same events
    pieces = quality_deciders(FetalSettings(), QualityConfig())
    got = [e for a in range(0, 600, 37) for e in pieces["motion"].update(overall[a : a + 37, motion], times[a : a + 37],
                                                                          0.1)] + pieces["motion"].flush()
    assert got == events
    assert len(loose["wander"].update(overall[:, wander], times, 0.1) + loose["wander"].flush()) == 1
