"""The embedded default: bundled bundles (one per machine id) and sample clips, and the main-job command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from tests.conftest import ROOT, run_vigil

DATA = ROOT / "edge" / "data"
TYPES = {"fan", "pump", "slider", "valve", "toycar", "toyconveyor"}


def test_one_verified_fused_bundle_per_machine_type() -> None:
    assert {p.name for p in (DATA / "bundles").iterdir()} == TYPES | {"ecg-donut"}
    for machine in TYPES:
        bundle = load_bundle(DATA / "bundles" / machine)
        # the default runs int8 (within 0.012 AUC of float32 per machine id, benchmarks/fused_audio.py)
        assert bundle.manifest.machine_type == machine and set(bundle.variants) == {"int8"}
        assert bundle.default_variant == "int8" and bundle.manifest.detector_kind == "fused"
        assert "default_variant_reason" not in bundle.manifest.detector.extra
        assert [m["name"] for m in bundle.manifest.detector_params["members"]] == ["maha", "maha-envelope"]


def test_samples_are_clips_of_the_same_machine_the_bundles_never_saw() -> None:
    for machine in TYPES:
        provenance = load_bundle(DATA / "bundles" / machine).manifest.provenance
        fitted = {f["sha256"] for f in provenance["fit_files"] + provenance["threshold_files"]}
        shipped = provenance["demo_samples"]
        samples = {p.name for p in (DATA / "samples" / machine).glob("*.wav")}
        assert len(samples) == 4 and samples == {s["file"] for s in shipped}
        assert sorted(s.split("_")[0] for s in samples) == ["anomaly", "anomaly", "normal", "normal"]
        assert fitted and fitted.isdisjoint({s["source_sha256"] for s in shipped})
        held = provenance["held_out"]
        ident = held["machine_id"]
        assert all(f"_{ident}_" in s for s in samples)
        assert all(f"_{ident}_" in f["file"] for f in provenance["fit_files"])
        assert held["normal"] >= 2 and held["anomalous"] >= 2 and 0 <= held["auc_int8"] <= 1


def test_ecg_bundle_and_sample() -> None:
    bundle = load_bundle(DATA / "bundles" / "ecg-donut")
    assert bundle.modality == "ecg" and list(bundle.variants) == ["int8"]
    assert set(bundle.variant().paths) == {"encoder", "decoder"}
    fitted = {f["file"] for f in bundle.manifest.provenance["fit_files"]}
    assert fitted == {"r01.edf", "r04.edf", "r07.edf", "r08.edf"}  # the sample is cut from r10
    assert [p.name for p in (DATA / "samples" / "ecg").glob("*.edf")] == ["r10_60s.edf"]


def test_fetal_samples_keep_every_annotated_beat_of_their_minute() -> None:
    """EDF+ keeps annotations in per-record slots: with the default single slot the samples lost 68 of r10's
    128 annotated beats in its first minute."""
    import pyedflib

    source = pyedflib.EdfReader(str(ROOT.parent / "shared" / "data" / "adfecgdb" / "r10.edf"))
    expected = int(np.sum(source.readAnnotations()[0] < 60))
    source.close()
    for path, labels in ((DATA / "samples" / "ecg" / "r10_60s.edf", ["Direct_1"]),
                         (DATA / "samples" / "fetal" / "r10_60s_abdominal.edf", [f"Abdomen_{i}" for i in range(1, 5)])):
        reader = pyedflib.EdfReader(str(path))
        try:
            assert reader.getSignalLabels() == labels and len(reader.readAnnotations()[0]) == expected == 128
        finally:
            reader.close()


@pytest.mark.slow  # the whole demo in a subprocess: 4-24 s with the machine's load
def test_demo_scores_every_sample() -> None:
    out = run_vigil("demo", "--json", check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    ecg = [r for r in rows if r.get("modality") == "ecg"]
    (fetal,) = [r for r in rows if r.get("modality") == "fetal"]
    rows = [r for r in rows if r.get("modality") not in ("ecg", "fetal")]
    # vigil beats on the abdominal sample, against the file's own annotated fetal R-peaks (50 ms)
    assert fetal["reference_beats"] == 128 and fetal["f1"] >= 0.95, fetal["f1"]
    assert abs(len(fetal["fetal_peaks"]) - 128) <= 6 and 110 < np.median([p["bpm"] for p in fetal["fhr"]]) < 160
    assert len(rows) == 24 and {r["machine_type"] for r in rows} == TYPES
    (sample,) = ecg
    assert sample["points"] == 1000 and sample["scored_points"] == 1000  # every point (the bundle's warm-up)
    for event in sample["events"]:
        assert event["peak_score"] > sample["threshold"] and 0 <= event["start_s"] < event["end_s"] <= 60.1
    for row in rows:
        assert row["decision"] == ("anomaly" if row["clip_score"] > row["threshold"] else "normal")
        assert row["truth"] in ("normal", "anomaly")
