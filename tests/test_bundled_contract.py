"""The detector contract (river-style) over every bundled bundle, the Donut ECG bundle included, on the
gateway path (Stream -> Detector): same input same scores, one score per window, a higher score on
an injected (synthetic, seeded) anomaly than on the clean recording it was injected into.

Injected anomalies here are synthetic and only check the direction of the score; detection figures on
real anomalies are in README.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.detectors.base import load_detector
from edge.pipeline.decider import Decider
from edge.pipeline.stream import Stream
from edge.sources.base import Block, needs_of
from edge.sources.file import open_file_recording
from tests.conftest import ROOT

DATA = ROOT / "edge" / "data"
BUNDLES = sorted(p.name for p in (DATA / "bundles").iterdir())


def sample(name: str) -> Path:
    folder = DATA / "samples" / ("ecg" if name == "ecg-donut" else name)
    return sorted(folder.glob("normal_*.wav") if name != "ecg-donut" else folder.glob("*.edf"))[0]


def stream_scores(name: str, values: np.ndarray, block: int = 1000) -> np.ndarray:
    bundle = load_bundle(DATA / "bundles" / name)
    detector = load_detector(bundle, samples=4) if bundle.modality != "audio" else load_detector(bundle)
    stream = Stream(bundle.window_spec, detector, Decider(np.inf))
    out = [stream.push(Block(i, values[i : i + block, None])).scores for i in range(0, values.size, block)]
    return np.concatenate(out)


def clean(name: str) -> np.ndarray:
    bundle = load_bundle(DATA / "bundles" / name)
    recording = open_file_recording(sample(name), needs_of(bundle))
    samples = recording.read_all()  # short bundled samples: read whole
    return samples[: 60_000] if name == "ecg-donut" else samples


@pytest.mark.parametrize("name", BUNDLES)
def test_same_input_same_scores_one_per_window(name: str) -> None:
    values = clean(name)
    first, again = stream_scores(name, values), stream_scores(name, values, block=777)  # batching is irrelevant
    np.testing.assert_array_equal(first, again)
    framing = Stream(load_bundle(DATA / "bundles" / name).window_spec, load_detector(
        load_bundle(DATA / "bundles" / name)), Decider(np.inf)).framing
    assert first.dtype == np.float32 and first.shape == (1 + (values.size - framing.window) // framing.hop,)
    assert np.isfinite(first).all()


@pytest.mark.parametrize("name", BUNDLES)
def test_injected_anomaly_scores_higher(name: str) -> None:
    values = clean(name)
    rng = np.random.default_rng(0)
    noisy = values.copy()
    scale = 5 * float(np.std(values))  # broadband bursts five times the recording's spread, seeded
    third = values.size // 3
    noisy[third : 2 * third] += (scale * rng.standard_normal(third)).astype(values.dtype)
    before, after = stream_scores(name, values), stream_scores(name, noisy)
    assert after.mean() > before.mean(), (after.mean(), before.mean())
