"""`vigil features`, `score`, `bench` and `demo`: the work behind the commands (edge/cli.py parses
and dispatches). `score` and `bench` ask the bundle's modality (edge.modalities) to score the files
and print what it returns, whatever kind of signal they hold."""

from __future__ import annotations

import contextlib
import json
import os
import resource
from pathlib import Path

from edge import __version__
from edge.bundle.loader import load_bundle
from edge.commands import beats as cli_beats
from edge.commands import ecg_demo, sound_demo
from edge.errors import ConfigError
from edge.features.spec import FeatureSpec
from edge.modalities.base import ScoreRequest
from edge.text import plural

DATA = Path(__file__).parent.parent / "data"


def features(path: Path, *, set_name: str, out: Path, sr: int, channel: int | None, force: bool = False) -> int:
    """Write the features of every window, computed block by block (edge.io.feature_file)."""
    from edge.io.feature_file import npy_path, write_features
    from edge.outputs import check_file

    if sr <= 0:
        raise ConfigError(f"--sr {sr}: expected a positive sample rate in Hz")
    from edge.features.audio import CONTRAST_MIN_SR

    if set_name == "seed" and sr <= CONTRAST_MIN_SR:  # librosa refuses it too ("band exceeds Nyquist")
        raise ConfigError(f"--sr {sr}: the seed set's spectral contrast has an octave band from "
                          f"{CONTRAST_MIN_SR / 2:g} Hz, not below the Nyquist frequency {sr / 2:g} Hz; expected --sr "
                          f"above {CONTRAST_MIN_SR:g}, or --set logmel")
    check_file(npy_path(out), force=force, what=".npy file")
    spec = FeatureSpec.default(set_name, sr=sr)
    written, n = write_features(path, spec, out, channel=channel)
    print(f"{written}: {plural(n, 'window')} x {spec.dim} {set_name} features (float32)")
    return 0


def score(files: list[Path], *, bundle_path: Path, variant: str | None, channel: int | None, as_json: bool,
          samples: int | None, iterations: int | None, columns: str | None = None) -> int:
    """`vigil score`: each file's result from the bundle's modality, printed as it is scored."""
    bundle = load_bundle(bundle_path)
    request = ScoreRequest(variant, channel, as_json, samples, iterations, columns)
    for result in bundle.input_modality.file_scores(files, bundle, request):
        if as_json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            print(result.summary())
    return 0


def pin_to_one_core() -> int:
    """Pin every thread of this process (BLAS pools included) to the first allowed CPU."""
    cpu = min(os.sched_getaffinity(0))
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread may end while we walk the list
            os.sched_setaffinity(int(tid), {cpu})
    return cpu


def bench_bundle(files: list[Path], *, bundle_path: Path, variant: str | None, channel: int | None, as_json: bool,
                 samples: int | None, iterations: int | None, repeat: int, one_core: bool,
                 columns: str | None = None) -> int:
    """`vigil bench`: the bundle's modality scores the files ``repeat`` times; its cost and this process's
    peak memory printed."""
    cpu = pin_to_one_core() if one_core else None
    bundle = load_bundle(bundle_path)
    request = ScoreRequest(variant, channel, as_json, samples, iterations, columns)
    cost = bundle.input_modality.bench(files, bundle, request, repeat=repeat)
    print_report({"bundle": str(bundle_path), **cost,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "pinned_cpu": cpu}, as_json)
    return 0


def print_report(report: dict[str, object], as_json: bool) -> None:
    print(json.dumps(report) if as_json else "\n".join(f"{key:18s} {value}" for key, value in report.items()))


def demo(*, as_json: bool) -> int:
    """Score the bundled sample clips: machine sound (per machine id), ECG and fetal beats."""
    if not as_json:
        print(f"vigil {__version__}: bundled clips scored by the bundled models on the gateway path\n")
    sound_demo.demo_sound(DATA, as_json)
    for path in sorted((DATA / "samples" / "ecg").glob("*.edf")):
        ecg_demo.demo_ecg(path, load_bundle(DATA / "bundles" / "ecg-donut"), as_json)
    for path in sorted((DATA / "samples" / "fetal").glob("*.edf")):
        if not as_json:
            print()
        cli_beats.demo_fetal(path, as_json)
    return 0
