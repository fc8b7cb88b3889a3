"""The learn store (edge.learn.store): bounded, time-ordered, resumed after a restart; and the `learn` key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge.errors import ConfigError
from edge.learn.period import parse_duration
from edge.learn.store import FeatureStore, clip_means
from tests.conftest import run_vigil


def _feed(store: FeatureStore, n: int, dim: int, start: int = 0, per_push: int = 5) -> None:
    for i in range(start, start + n, per_push):
        idx = np.arange(i, min(i + per_push, start + n))
        rows = np.repeat(idx[:, None], dim, axis=1).astype(np.float32)  # row value = its window index
        store.add(rows, idx * 0.5, float(idx[-1] + 1) * 0.5)


def test_store_stays_under_its_cap_and_spans_the_whole_period(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "s", dim=3, cap=32, key="a", block_rows=8)
    _feed(store, 1000, 3)
    store.flush()
    rows, t = store.rows()
    assert rows.shape[0] <= 32 + 8  # the cap, and at most one block before the next thinning
    assert rows.shape[0] >= 32 // 2
    assert np.all(np.diff(t) > 0)  # time order kept: the refit's folds are contiguous time blocks
    assert t[0] == 0.0 and t[-1] > 0.9 * 499.5  # first and last parts of the period both kept
    assert np.array_equal(rows[:, 0], t * 2)  # each row still with its own time
    assert len(list((tmp_path / "s").glob("block-*.npz"))) == len(store.blocks)  # thinned blocks removed


def test_store_resumes_where_it_was_and_restarts_for_another_bundle(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path / "s", dim=2, cap=1000, key="bundle-a", block_rows=8)
    _feed(store, 30, 2)  # 3 blocks written, 6 rows still in memory
    store.flush()
    before, t_before = store.rows()
    again = FeatureStore(tmp_path / "s", dim=2, cap=1000, key="bundle-a", block_rows=8)
    assert again.learned_s == store.learned_s == 15.0
    assert np.array_equal(again.rows()[0], before) and np.array_equal(again.rows()[1], t_before)
    _feed(again, 10, 2, start=30)
    assert again.kept == 40 and again.seen == 40
    other = FeatureStore(tmp_path / "s", dim=2, cap=1000, key="bundle-b", block_rows=8)
    assert other.kept == 0 and other.learned_s == 0.0 and not list((tmp_path / "s").glob("block-*"))


def test_clip_means_cut_learned_time_into_clips() -> None:
    t = np.array([0.0, 4.0, 9.9, 10.0, 19.0, 35.0])
    assert np.allclose(clip_means(np.array([1.0, 2, 3, 4, 6, 10]), t, 10.0), [2.0, 5.0, 10.0])


@pytest.mark.parametrize("value,seconds", [("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1.5d", 129600.0)])
def test_learn_durations(value: str, seconds: float) -> None:
    assert parse_duration(value, "streams[0].learn") == seconds


@pytest.mark.parametrize("value", ["2 hours", "0h", "-1h", 7200, "", "h"])
def test_a_bad_learn_value_is_refused_naming_the_key(value: object) -> None:
    with pytest.raises(ConfigError, match=r"streams\[0\]\.learn: .*expected a duration above 0"):
        parse_duration(value, "streams[0].learn")


def test_vigil_run_refuses_a_bad_learn_value_in_one_line(tmp_path: Path) -> None:
    wav = sorted((Path(__file__).parents[1] / "edge/data/samples/slider").glob("*.wav"))[0]
    bundle = Path(__file__).parents[1] / "edge/data/bundles/slider"
    config = tmp_path / "vigil.toml"
    config.write_text(f'[gateway]\nname = "gw"\nstate_dir = "{tmp_path / "state"}"\n[[streams]]\nname = "s"\n'
                      f'kind = "file"\nbundle = "{bundle}"\npath = "{wav}"\nlearn = "2 hours"\n')
    result = run_vigil("run", "--config", str(config))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "streams[0].learn" in lines[0] and '"2h"' in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_status_page_and_mqtt_say_a_stream_is_learning_and_how_far() -> None:
    from edge.observe.health import stream_line, stream_summary
    from edge.observe.home_assistant import state_payload
    from edge.pipeline.stream_state import StreamState

    state = StreamState("pump-1", "microphone", "audio", "fused", "int8", 2.0)
    assert "learning" not in stream_line(state, None, "off") and stream_summary(state)["learning"] is None
    state.learning = {"learned_s": 120.4, "total_s": 7200.0, "windows": 235}
    assert "learning 120 of 7200 s" in stream_line(state, None, "off")
    assert stream_summary(state)["learning"] == state.learning == state.snapshot()["learning"]
    assert json.loads(state_payload(state))["learning"] == {"learned_s": 120.4, "total_s": 7200.0, "windows": 235}
