"""`vigil train audio --features STORE`: a learning period's rows join every fit of the fused default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.bundle.loader import load_bundle
from edge.features.spec import FeatureSpec
from edge.io.wav import load_mono
from edge.learn.store import FeatureStore
from tests.conftest import run_vigil

ROOT = Path(__file__).resolve().parents[1]
TRAIN = sorted((ROOT.parent / "shared" / "data" / "dcase2020-slider-id00-train").glob("*.wav"))


def _store(folder: Path, feature_set: str, clips: list[Path]) -> int:
    """A learn store of the clips' windows in `feature_set`, as a stream's learning period leaves it; its rows."""
    spec = FeatureSpec.default(feature_set)
    rows = np.concatenate([spec.compute(load_mono(p, sr=spec.sr)) for p in clips])
    store = FeatureStore(folder, spec.dim, 20000, key="test")
    store.add(rows, np.arange(rows.shape[0]) * spec.hop_samples / spec.sr, float(rows.shape[0]))
    store.flush()
    return int(rows.shape[0])


@pytest.fixture(scope="module")
def fit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("slider") / "normal" / "slider"
    folder.mkdir(parents=True)
    for clip in TRAIN[:5]:
        (folder / clip.name).symlink_to(clip)
    return folder.parents[1]


@pytest.mark.training
@pytest.mark.parametrize("feature_set", ["logmel-stats", "logmel-stats-seed"])  # today's store, and one learned
def test_learned_rows_join_the_fit(fit_dir: Path, tmp_path: Path, feature_set: str) -> None:  # before the envelope
    n = _store(tmp_path / "store", feature_set, TRAIN[5:8])
    result = run_vigil("train", "audio", str(fit_dir), "--machine-type", "slider",
                       "--features", str(tmp_path / "store"), "--out", str(tmp_path / "b"))
    assert result.returncode == 0, result.stderr
    manifest = load_bundle(tmp_path / "b").manifest
    assert manifest.provenance["learned_rows"] == n and manifest.mean.shape == (256,)
    members = manifest.training["members"]
    plain = 5 * FeatureSpec.default("logmel-stats").n_windows(160000)  # 5 clips of 10 s
    assert all(m["windows"] == plain + n for m in members.values()), json.dumps(members)[:300]


@pytest.mark.training
def test_a_store_of_other_features_is_refused_in_one_line(fit_dir: Path, tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "store", 17, 100, key="test")
    store.add(np.zeros((20, 17), np.float32), np.arange(20.0), 20.0)
    store.flush()
    result = run_vigil("train", "audio", str(fit_dir), "--features", str(tmp_path / "store"), "--out",
                       str(tmp_path / "b"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert str(tmp_path / "store") in line and "20 rows of 17 values" in line and "256 logmel-stats" in line, line
    assert not (tmp_path / "b").exists()
