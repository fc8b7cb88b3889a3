"""The live fetal chain: same beats as the file path, lost samples become a flatline event and no FHR,
and `vigil bench` on an EDF without a bundle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.fetal.analyze import analyze
from edge.io.multilead import open_leads
from tests.conftest import ROOT, run_vigil
from tests.fetal_stream import Collected, run_chain

R01 = ROOT.parent / "shared" / "data" / "adfecgdb" / "r01.edf"


def run_monitor(gap: tuple[int, int] | None = None) -> Collected:
    rec = open_leads(R01)
    x = np.concatenate(list(rec.blocks(60000)))[:90000]
    rec.close()
    # the wearable's 23-sample frames; those in `gap` are lost over the link: the next block starts later
    return run_chain(x, 23, lambda start: gap is not None and gap[0] <= start < gap[1])


@pytest.mark.slow  # whole ADFECG records
def test_live_blocks_give_the_file_peaks_and_a_gap_is_flagged() -> None:
    clean = run_monitor()
    fetal = np.array(clean.fetal)
    rec = open_leads(R01)
    whole = analyze(rec, quality=False).fetal
    rec.close()
    # the first 90 s: equal except within the last window, which the file path sees with more context
    assert np.array_equal(fetal[fetal < 80000], whole[whole < 80000]) and fetal.size > 180
    lost = run_monitor(gap=(40020, 43013))
    lost_fetal = np.array(lost.fetal)
    assert np.array_equal(lost_fetal[lost_fetal < 30000], fetal[fetal < 30000])
    flat = lost.kind("flatline")
    assert any(e.start_s <= 41.0 and e.end_s >= 42.5 for e in flat), flat
    assert not clean.kind("flatline")
    assert all(lost.masked_between(40.3, 42.7))


@pytest.mark.slow  # `vigil bench` on a whole record
def test_bench_without_bundle_reports_the_fetal_chain() -> None:
    result = run_vigil("bench", str(R01), "--json", check=True)
    report = json.loads(result.stdout)
    assert abs(report["fetal_beats"] - 644) <= 6 and report["recorded_seconds"] == 300.0  # 644 annotated beats
    assert report["real_time_factor"] > 0
    lat = report["beat_to_fhr_latency_s"]
    assert 0 < lat["median"] <= lat["max"] < 9.0 + 5.0  # core 6 s + margin 3 s, plus processing
    assert report["peak_rss_mb"] > 0


def test_wander_on_one_lead_raises_a_wander_event_though_its_score_tops_out_at_wander_max() -> None:
    """Wander scores at most QualityConfig.wander_max (0.5, under the other faults): its event is decided on
    that scale, so a wander fault still makes an event (with the common 0.5 threshold it never could)."""
    from train.fetal_inject import _quality

    rec = open_leads(R01)
    x = np.concatenate(list(rec.blocks(60000)))[:45000]
    rec.close()
    _quality("wander", x[:, 0], 30000, 35000, 1000.0, np.random.default_rng(0))
    wander = run_chain(x, 1000).kind("wander")
    fault = [e for e in wander if e.start_s < 34.0 and e.end_s > 31.0]
    assert fault and fault[0].threshold == 0.25, wander
    # r01's own wander (about 12-17 s) also makes events, as it did at 0.5 of a score up to 1
    assert all(e.threshold == 0.25 for e in wander) and sum(e.end_s < 28.0 for e in wander) <= 3
