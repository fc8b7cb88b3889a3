"""Seeded multi-lead injection: labels follow the data, beats move with the warps, and the FHR series for Donut."""

from __future__ import annotations

import numpy as np

from train.fetal_inject import KINDS, inject_leads

FS = 1000.0


def beats_and_leads(seconds: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """A 2.5 Hz (150 bpm) beat train and 3 leads of seeded noise with a spike at each beat."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((int(seconds * FS), 3))
    peaks = np.arange(200, x.shape[0] - 200, 400)
    x[peaks] += 20.0
    return x, peaks


def test_quality_faults_touch_only_their_leads_and_span() -> None:
    x, peaks = beats_and_leads()
    inj = inject_leads(x, peaks, FS, seed=3, kinds=("flatline", "mains"), per_kind=2)
    assert len(inj.episodes) == 4
    changed = inj.samples != x
    for kind, a, b, leads in inj.episodes:
        assert (inj.kind_mask[a:b] == KINDS.index(kind) + 1).all()
        for lead in range(3):
            assert changed[a:b, lead].any() == (lead in leads)
            assert inj.lead_mask[a:b, lead].all() == (lead in leads)
    assert not changed[inj.kind_mask == 0].any()
    np.testing.assert_array_equal(inj.r_peaks, peaks)  # no warps: the beats stay


def test_rhythm_warps_move_the_beats_in_every_lead() -> None:
    x, peaks = beats_and_leads()
    for kind, factor in (("brady", 1.4), ("tachy", 0.7)):
        inj = inject_leads(x, peaks, FS, seed=1, kinds=(kind,), per_kind=1)
        (_, a, b, leads), = inj.episodes
        assert leads == (0, 1, 2)
        inside = inj.r_peaks[(inj.r_peaks >= a) & (inj.r_peaks <= b)]
        np.testing.assert_allclose(np.diff(inside), 400 * factor, atol=1)
        before = inj.r_peaks[inj.r_peaks < a]
        np.testing.assert_array_equal(before, peaks[peaks < a])
        for lead in range(3):  # the spikes moved with the beats
            assert (inj.samples[inside.astype(int), lead] > 10).mean() > 0.8


def test_deceleration_falls_by_a_fifth_or_more_and_recovers() -> None:
    x, peaks = beats_and_leads(300.0)
    inj = inject_leads(x, peaks, FS, seed=2, kinds=("decel",), per_kind=1)
    (_, a, b, _), = inj.episodes
    assert 20 <= (b - a) / FS <= 60
    rr = np.diff(inj.r_peaks[(inj.r_peaks >= a) & (inj.r_peaks <= b)])
    assert 60 / (rr.max() / FS) <= 150 * 0.8 and 60 / (rr[0] / FS) > 145 and 60 / (rr[-1] / FS) > 145


def test_a_deceleration_stretched_past_the_end_is_left_out() -> None:
    """A decel placed near the end of a short record would be stretched past it (this crashed the
    injector on some seeds); it is left out, and every episode ends inside the record."""
    x, peaks = beats_and_leads(60.0)
    for seed in range(12):
        inj = inject_leads(x, peaks, FS, seed=seed, kinds=("decel",), per_kind=3, gap_s=1.0)
        assert all(0 < a < b <= x.shape[0] for _, a, b, _ in inj.episodes)
        assert inj.samples.shape == x.shape and inj.r_peaks.max() < x.shape[0]


def test_strength_scales_the_faults_and_length_their_durations() -> None:
    """Same seed, same places and leads: the additive faults scale with strength, clipping cuts deeper, and
    length_scale stretches the episodes (the strength sweeps of the quality tuning study rely on it)."""
    x, peaks = beats_and_leads()
    kinds = ("motion", "wander", "mains", "clipping")
    one = inject_leads(x, peaks, FS, seed=5, kinds=kinds, per_kind=1)
    two = inject_leads(x, peaks, FS, seed=5, kinds=kinds, per_kind=1, strength=2.0)
    assert [e[1:] for e in one.episodes] == [e[1:] for e in two.episodes]
    for kind, a, b, leads in one.episodes:
        lead = leads[0]
        added1, added2 = one.samples[a:b, lead] - x[a:b, lead], two.samples[a:b, lead] - x[a:b, lead]
        if kind == "clipping":  # clipped at 0.3 ** 2 of the peak instead of 0.3: a narrower range
            assert np.ptp(two.samples[a:b, lead]) < 0.5 * np.ptp(one.samples[a:b, lead])
        else:
            # 2x, up to the lead scale (its MAD) that earlier, stronger episodes in the lead move a little
            np.testing.assert_allclose(added2, 2 * added1, rtol=0.05)
    longer = inject_leads(x, peaks, FS, seed=5, kinds=("wander",), per_kind=3, length_scale=2.0)
    spans = [(b - a) / FS for _, a, b, _ in longer.episodes]
    assert len(spans) == 3 and min(spans) >= 6.0 and max(spans) <= 12.0  # wander: 3-6 s at length 1
