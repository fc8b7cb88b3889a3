"""A learning period end to end through `vigil run`: no event while learning, resumed after a restart, events
after the switch to the learned version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.bundle.loader import load_bundle
from edge.io.wav import load_mono
from tests.conftest import run_vigil

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LEARN_S = 30.0


def _wav(path: Path, clips: list[Path]) -> Path:
    sf.write(path, np.concatenate([load_mono(c, sr=16000) for c in clips]), 16000, subtype="PCM_16")
    return path


def _config(tmp: Path, wav: Path) -> Path:
    config = tmp / f"{wav.stem}.toml"
    config.write_text(f'[gateway]\nname = "gw"\nstate_dir = "{tmp / "state"}"\n[[streams]]\nname = "slider-1"\n'
                      f'kind = "file"\nbundle = "{tmp / "slider"}"\npath = "{wav}"\nrealtime = false\n'
                      f'learn = "{LEARN_S:g}s"\n')
    return config


@pytest.mark.slow  # two `vigil run`s of the service end to end
def test_learning_period_resumes_then_switches_and_raises_events(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "edge" / "data" / "bundles" / "slider", tmp_path / "slider")
    normal = sorted((DATA / "dcase2020-slider-id00-train").glob("*.wav"))[:3]
    anomalous = sorted((DATA / "dcase2020-task2-lite" / "anomalous" / "slider").glob("anomaly_id_00_*.wav"))
    # first run: 20 s of normal sound, the stream ends while learning
    first = run_vigil("run", "--config", str(_config(tmp_path, _wav(tmp_path / "a.wav", normal[:2]))))
    assert first.returncode == 0, first.stderr
    log = tmp_path / "state" / "events.jsonl"
    assert not log.exists() or log.read_text() == ""  # learning: no event
    saved = json.loads((tmp_path / "state" / "learn" / "slider-1" / "state.json").read_text())
    assert saved["learned_s"] == pytest.approx(20.0, abs=0.6) and saved["done"] is None
    # second run: it resumes, learns the 10 s it lacks, switches, then hears two anomalous clips
    second = run_vigil("run", "--config", str(_config(tmp_path, _wav(tmp_path / "b.wav", normal[2:] + anomalous))))
    assert second.returncode == 0, second.stderr
    events = [json.loads(line) for line in log.read_text().splitlines()]
    closed = [e for e in events if e["phase"] == "closed"]
    switched_at = LEARN_S - saved["learned_s"]  # stream seconds of the second run
    assert closed and all(e["start_s"] >= switched_at - 1.1 for e in events)  # none before the switch (one window)
    assert any(e["end_s"] > 10.0 for e in closed)  # the anomalous clips (from 10 s on) raise events
    current = json.loads((tmp_path / "slider" / "manifest.json").read_text())
    learned = current["provenance"]["learned"]
    assert current["provenance"]["version"] == 2 and learned["seconds"] == pytest.approx(LEARN_S, abs=0.6)
    assert learned["windows"] >= 50  # the first run's windows kept across the restart (about 19 per 10 s)
    assert {e["model_sha256"] for e in events} == {load_bundle(tmp_path / "slider").variant().sha256}  # the learned
    assert (tmp_path / "slider.history" / "1" / "manifest.json").is_file()
