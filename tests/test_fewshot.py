"""Few-shot machine sound: the log-mel statistics, the out-of-fold protocol, the fault injector,
and the default detector on a real machine (probable slider id 00: 10 normal clips to fit)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from edge.bundle.loader import load_bundle
from edge.detectors.base import load_detector
from edge.features.audio import logmel_stats
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from edge.pipeline.file_scoring import score_file
from tests.conftest import run_vigil
from train.faults import FAULT_KINDS, inject
from train.metrics import clip_metrics

SLIDER = Path(__file__).resolve().parents[2] / "shared/data/dcase2020-slider-id00-train"


@pytest.fixture(scope="module")
def clip(dcase: Path) -> np.ndarray:
    return load_mono(sorted((dcase / "normal" / "slider").glob("*.wav"))[0], sr=16000)


def test_logmel_stats_are_band_means_and_stds_of_log_mel_windows(clip: np.ndarray) -> None:
    spec = FeatureSpec.default("logmel-stats")
    out = spec.compute(clip)
    assert out.shape == (spec.n_windows(clip.size), 2 * spec.n_mels) and out.dtype == np.float32
    frames = FeatureSpec.default("logmel").compute(clip)[:, : spec.n_mels]  # first frame of each 5-frame vector
    w = 3  # window 3 starts at frame 3 * hop_frames
    block = frames[w * spec.hop_frames : w * spec.hop_frames + spec.frames]
    np.testing.assert_allclose(out[w, : spec.n_mels], block.mean(axis=0), atol=2e-3)
    np.testing.assert_allclose(out[w, spec.n_mels :], block.std(axis=0), atol=2e-3)
    # a block cut at a window boundary gives the same windows as the whole clip (streams cut anywhere)
    start = 5 * spec.hop_samples
    np.testing.assert_allclose(spec.compute(clip[start:])[:4], out[5:9], atol=1e-3)
    assert logmel_stats(clip[: spec.window_samples - 1], sr=16000).shape == (0, 256)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_injector_labels_exactly_where_the_audio_changed(kind: str, clip: np.ndarray) -> None:
    out, fault = inject(clip, 16000, kind, seed=3)
    assert out.shape == clip.shape and out.dtype == np.float32 and fault.kind == kind
    changed = np.flatnonzero(out != clip)
    assert changed[0] == fault.start and changed[-1] + 1 == fault.end
    assert 0.05 * 16000 <= fault.end - fault.start <= 5.0 * 16000
    np.testing.assert_array_equal(out[: fault.start], clip[: fault.start])
    np.testing.assert_array_equal(out[fault.end :], clip[fault.end :])
    again, same = inject(clip, 16000, kind, seed=3)
    np.testing.assert_array_equal(again, out)
    assert same == fault and inject(clip, 16000, kind, seed=4)[1] != fault
    assert json.loads(json.dumps(fault.to_json()))["end_s"] == pytest.approx(fault.end / 16000, abs=1e-5)


def test_injector_refuses_an_unknown_kind(clip: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected one of clicks"):
        inject(clip, 16000, "rattle", seed=0)


@pytest.fixture(scope="module")
def default_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`vigil train audio` with no --detector on 10 normal clips of the 75-clip machine."""
    data = tmp_path_factory.mktemp("ten")
    for path in sorted(SLIDER.glob("*.wav"))[::7][:10]:
        (data / path.name).symlink_to(path)
    out = tmp_path_factory.mktemp("bundle") / "b"
    run_vigil("train", "audio", str(data), "--out", str(out), "--json", check=True)
    return out


def test_default_detector_learns_every_clip_with_out_of_fold_thresholds(default_bundle: Path) -> None:
    m = load_bundle(default_bundle).manifest.to_json()
    assert m["detector"]["kind"] == "fused" and len(m["provenance"]["fit_files"]) == 10
    cal = m["calibration"]
    assert cal["rule"] == {"kind": "percentile", "value": 95.0} and "k=5 by clip" in cal["source"]
    for variant in ("float32", "int8"):
        scores = cal["normal_scores"][variant]
        assert len(scores["clip"]) == 10 and scores["clip"] == sorted(scores["clip"])
        assert 10 * 14 <= len(scores["window"]) <= 2000 and scores["window"] == sorted(scores["window"])
        assert m["models"][variant]["threshold"]["clip"] == pytest.approx(np.percentile(scores["clip"], 95.0))
        # each member's z scale: [mean, std > 0] of its own out-of-fold windows; the fused windows are the
        # larger z, so on normal windows they sit above 0 on average (each member's z averages 0 there)
        assert set(m["models"][variant]["fusion"]) == {"maha", "maha-envelope"}
        assert all(sd > 0 for _, sd in m["models"][variant]["fusion"].values()) and np.mean(scores["window"]) > 0


def test_fused_default_is_the_larger_of_its_members_z_scores(default_bundle: Path, dcase: Path) -> None:
    from edge.detectors.fused import FusedDetector

    bundle = load_bundle(default_bundle)
    x = bundle.spec.compute(load_mono(sorted((dcase / "anomalous" / "slider").glob("*.wav"))[0], sr=16000))
    detector = load_detector(bundle, "int8")
    assert isinstance(detector, FusedDetector) and list(detector.members) == ["maha", "maha-envelope"]
    fusion = bundle.manifest.models["int8"].extra["fusion"]
    raw = {name: member.score(x) for name, member in detector.members.items()}
    expected = np.max([(raw[n] - fusion[n][0]) / fusion[n][1] for n in raw], axis=0)
    np.testing.assert_allclose(detector.score(x), expected, rtol=1e-5, atol=1e-5)


def test_a_trained_bundle_carries_its_estimate(default_bundle: Path) -> None:
    """`vigil train audio` (defaults, 10 normal clips): the estimate comes from the out-of-fold models, one
    AUC per fault kind, their mean, and names only clips it was fitted on."""
    manifest = load_bundle(default_bundle).manifest
    r = manifest.reliability
    assert set(r["faults"]) == set(FAULT_KINDS) and all(0.0 <= a <= 1.0 for a in r["faults"].values())
    assert r["estimate"] == pytest.approx(np.mean(list(r["faults"].values())), abs=1e-4)
    assert r["variant"] == manifest.default_variant and r["normal_clips"] == 10 and "k=5 by clip" in r["of"]
    fitted = {f["file"] for f in manifest.provenance["fit_files"]}
    assert set(r["unlike"]) <= fitted and r["advice"]
    assert manifest.to_json()["reliability"] == r  # written and read back


def test_default_detector_ranks_real_anomalies_above_unseen_normals(default_bundle: Path, dcase: Path) -> None:
    lite = dcase.parent / "dcase2020-task2-lite"
    clips = [p for d in (dcase, lite) for p in sorted(d.rglob("*id_00*.wav")) if p.parent.name == "slider"]
    labels = np.array([int(p.name.startswith("anomaly")) for p in clips])
    assert labels.sum() >= 3 and (labels == 0).sum() >= 3
    bundle = load_bundle(default_bundle)
    auc = {}
    for variant in ("float32", "int8"):
        detector = load_detector(bundle, variant)
        scores = np.array([score_file(bundle, detector, p).clip_score for p in clips])
        auc[variant] = clip_metrics(labels, scores, 0.0)["auc"]
    assert auc["float32"] >= 0.9 and abs(auc["int8"] - auc["float32"]) <= 0.02, auc


def test_default_maha_whitens_band_means_with_the_frames_covariance(dcase: Path) -> None:
    """The default's two blocks: band means whitened by the Ledoit-Wolf covariance of single frames,
    band stds by that of the windows, each scaled to unit RMS on the fitted windows."""
    from sklearn.covariance import LedoitWolf

    from train.detectors import DetectorOptions, registry

    kind = registry()["maha"]
    options = DetectorOptions()
    clips = [load_mono(p, sr=16000) for p in sorted((dcase / "normal" / "pump").glob("*.wav"))[:4]]
    x = np.concatenate([kind.spec(options).compute(y) for y in clips])
    frames = np.concatenate([kind.frame_spec(options).compute(y) for y in clips])
    n = frames.shape[1]
    assert x.shape[1] == 2 * n and frames.shape[0] > 10 * x.shape[0]
    mean, std = x.mean(axis=0), x.std(axis=0)
    z, zf = (x - mean) / std, (frames - mean[:n]) / std[:n]
    trained = kind.fit(z.astype(np.float32), None, options, frames=zf.astype(np.float32))
    out = np.asarray(trained.model(z.astype(np.float32)), dtype=np.float64)
    # each block's distance has unit RMS on the fitted windows
    np.testing.assert_allclose(np.sqrt(np.mean(np.sum(out[:, :n] ** 2, axis=1))), 1.0, rtol=1e-3)
    np.testing.assert_allclose(np.sqrt(np.mean(np.sum(out[:, n:] ** 2, axis=1))), 1.0, rtol=1e-3)
    # the band-mean block is the Mahalanobis distance under the frames' shrunk covariance
    scale = zf.std(axis=0)
    lw = LedoitWolf().fit(zf / scale)
    d = (z[:, :n] / scale - lw.location_)
    expected = np.sqrt(np.einsum("ij,jk,ik->i", d, np.linalg.inv(lw.covariance_), d))
    got = np.linalg.norm(out[:, :n], axis=1)
    np.testing.assert_allclose(got / got.mean(), expected / expected.mean(), rtol=2e-3)
    # changing a window's band stds leaves its band-mean block alone
    bumped = z.copy()
    bumped[:, n:] += 1.0
    again = np.asarray(trained.model(bumped.astype(np.float32)))
    np.testing.assert_allclose(again[:, :n], out[:, :n], atol=1e-4)
    assert not np.allclose(again[:, n:], out[:, n:], atol=1e-2)


@pytest.mark.parametrize("freq_hz", [3000.0, 5500.0])
def test_an_event_names_the_band_where_a_whine_was_added(default_bundle: Path, tmp_path: Path, freq_hz: float) -> None:
    """A clip of the machine the bundle was fitted on (not one of its fitted clips) with a steady tone as loud
    as the clip added: its events say where to listen, and one of the ranges they name holds the tone (the
    first is not always it: this clip's own windows differ from the fitted clips' around 0.8-1 kHz)."""
    clip = sorted(SLIDER.glob("*.wav"))[40]
    fitted = {f["file"] for f in load_bundle(default_bundle).manifest.provenance["fit_files"]}
    assert clip.name not in fitted
    y = load_mono(clip, sr=16000)
    rms = float(np.sqrt(np.mean(np.square(y))))
    tone = y + np.sqrt(2) * rms * 10 ** (0 / 20) * np.sin(2 * np.pi * freq_hz * np.arange(y.size) / 16000)
    path = tmp_path / "whine.wav"
    soundfile.write(path, np.clip(tone, -1, 1), 16000, subtype="PCM_16")
    bundle = load_bundle(default_bundle)
    events = score_file(bundle, load_detector(bundle, "int8"), path).events
    assert events, "a tone as loud as the clip should raise an event"
    for event in events:
        assert any(r["from_hz"] <= freq_hz <= r["to_hz"] for r in event.explain), event.explain
        # the member that heard the peak window most is named, with the z that set the fused (max) score
        heard = event.heard_by
        assert heard is not None and set(heard["z"]) == {"maha", "maha-envelope"}, heard
        assert heard["z"][heard["member"]] == max(heard["z"].values())
        assert heard["z"][heard["member"]] == pytest.approx(event.peak_score, abs=2e-3)
