"""An event says where to listen: the Explainer names the runs of mel bands (or the named features) most unlike
the bundle's normal statistics, and the Decider keeps the feature row of each event's peak window."""

from __future__ import annotations

import itertools
import json

import jsonschema
import numpy as np

from edge.features.explain import Explainer, band_edges_hz
from edge.features.spec import FeatureSpec
from edge.pipeline.decider import Decider
from edge.sinks.events import make_record, schema


def spec_and_stats(set_name: str) -> tuple[FeatureSpec, np.ndarray, np.ndarray]:
    spec = FeatureSpec.default(set_name)
    return spec, np.zeros(spec.dim), np.ones(spec.dim)


def test_a_raised_run_of_bands_is_named_first_with_its_frequencies() -> None:
    spec, mean, std = spec_and_stats("logmel-stats")
    row = np.random.default_rng(0).normal(0, 0.3, spec.dim)
    row[[70, 71, 72]] += 6.0  # three neighbouring bands' mean level up (the first n_mels features)
    row[spec.n_mels + 71] += 4.0  # and the middle one's fluctuation
    named = Explainer(spec, mean, std)(row)
    first = named[0]
    assert first["bands"][0] <= 70 and first["bands"][1] >= 72 and first["share"] > 0.6, named
    edges = band_edges_hz(spec)
    assert (first["from_hz"], first["to_hz"]) == (round(edges[first["bands"][0]]), round(edges[first["bands"][1] + 2]))
    assert len(named) == 3 and all(a["bands"][1] < b["bands"][0] or b["bands"][1] < a["bands"][0]
                                   for a, b in itertools.combinations(named, 2))  # no band named twice


def test_the_write_ups_features_are_named() -> None:
    spec, mean, std = spec_and_stats("seed")
    row = np.zeros(spec.dim)
    row[13] = 5.0  # spectral centroid
    assert Explainer(spec, mean, std)(row)[0] == {"feature": "spectral_centroid_hz", "share": 1.0}


def test_an_event_is_explained_by_its_peak_window() -> None:
    seen: list[np.ndarray] = []
    decider = Decider(1.0, on_windows=2, off_windows=1, update_every_s=100.0)
    decider.explain = lambda row: seen.append(row) or [{"feature": f"row {int(row[0])}", "share": 1.0}]
    scores = np.array([0.5, 2.0, 5.0, 3.0, 0.2, 0.1])
    rows = np.arange(scores.size, dtype=float)[:, None] * np.ones((1, 4))
    events = decider.update(scores, np.arange(scores.size, dtype=float), 1.0, rows)
    assert [e.phase for e in events] == ["opened", "closed"]
    assert events[0].explain == [{"feature": "row 2", "share": 1.0}]  # peak so far: window 2 (score 5.0)
    assert events[1].explain == [{"feature": "row 2", "share": 1.0}] and events[1].peak_score == 5.0
    rows[2] = -1.0  # the decider kept a copy of the peak row, not a view of the caller's array
    assert seen[-1][0] == 2.0
    assert Decider(1.0, on_windows=1, off_windows=1).update(scores, np.arange(6.0), 1.0, rows)[0].explain is None


def test_an_event_names_the_part_that_heard_its_peak_window_in_every_record() -> None:
    decider = Decider(1.0, on_windows=2, off_windows=1, update_every_s=100.0)
    decider.attribute = lambda row: {"member": f"m{int(row[0])}", "z": {f"m{int(row[0])}": float(row[0])}}
    scores = np.array([0.5, 2.0, 5.0, 3.0, 0.2, 0.1])
    rows = np.arange(scores.size, dtype=float)[:, None] * np.ones((1, 4))
    opened, closed = decider.update(scores, np.arange(scores.size, dtype=float), 1.0, rows)
    assert opened.heard_by == closed.heard_by == {"member": "m2", "z": {"m2": 2.0}}
    record = json.loads(make_record(closed, gateway="g", stream="s", detector="fused", model_sha256="0" * 64,
                                    stream_epoch_s=0.0).to_json())
    assert record["heard_by"] == {"member": "m2", "z": {"m2": 2.0}}
    jsonschema.validate(record, schema())
    assert closed.to_json()["heard_by"]["member"] == "m2"  # as `vigil score --json` prints it
    plain = Decider(1.0, on_windows=1, off_windows=1).update(scores, np.arange(6.0), 1.0, rows)[0]
    assert plain.heard_by is None and "heard_by" not in plain.to_json()
