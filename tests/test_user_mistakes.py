"""The mistakes new users really make: one line, exit status 2, nothing of theirs lost.

Each row: the command (with {placeholders} filled from a scratch folder), the words the line must
hold. Before these checks, several rows deleted files (`train --out` on a folder of one's own) or
ended in a traceback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, VIGIL, run_vigil
from tests.test_cli_errors import assert_clean_error

DATA = ROOT / "edge" / "data"
NAB = ROOT.parent / "shared" / "data" / "nab"
NAB_CSV = NAB / "data" / "realKnownCause" / "ambient_temperature_system_failure.csv"
NAB_TRAIN = NAB / "data" / "realAWSCloudwatch" / "ec2_cpu_utilization_24ae8d.csv"
NAB_TEST = NAB / "data" / "realAWSCloudwatch" / "ec2_cpu_utilization_5f5533.csv"
DCASE = ROOT.parent / "shared" / "data" / "dcase2020-task2-dev-samples"
ADFECG = ROOT.parent / "shared" / "data" / "adfecgdb"
WAV = DATA / "samples" / "fan" / "normal_id_00_00000005.wav"
EDF = DATA / "samples" / "ecg" / "r10_60s.edf"


@pytest.fixture()
def scratch(tmp_path: Path) -> Path:
    """A folder of someone's own files, a plain file, and a short real KPI CSV (20 points)."""
    (tmp_path / "mine" / "sub").mkdir(parents=True)
    (tmp_path / "mine" / "thesis.txt").write_text("three years of work\n")
    (tmp_path / "mine" / "sub" / "data.csv").write_text("1,2\n")
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "short.csv").write_text("".join(NAB_CSV.read_text().splitlines(keepends=True)[:21]))
    return tmp_path


CASES = [  # (id, arguments, words the one line must hold)
    # item 1: --out/--report never remove or write into what vigil did not write
    ("train-kpi-out-foreign", ["train", "kpi", str(NAB_CSV), "--out", "{s}/mine"], ["{s}/mine", "thesis.txt", "sub/"]),
    ("train-audio-out-foreign", ["train", "audio", str(DCASE), "--out", "{s}/mine"], ["not a vigil bundle"]),
    ("train-ecg-out-foreign", ["train", "ecg", str(EDF), "--out", "{s}/mine"], ["not a vigil bundle"]),
    ("evaluate-report-foreign", ["evaluate", str(DCASE), "--bundle", str(DATA / "bundles/valve"),
                                 "--report", "{s}/mine"], ["--report {s}/mine", "thesis.txt"]),
    ("export-c-out-foreign", ["export-c", str(DATA / "bundles/valve"), "--out", "{s}/mine"], ["thesis.txt"]),
    ("simulate-out-existing", ["simulate", str(EDF), "--channels", "Direct_1", "--out", "{s}/afile"],
     ["--out {s}/afile", "--force"]),
    ("train-out-bundle-no-force", ["train", "kpi", str(NAB_CSV), "--out", str(DATA / "bundles/valve")],
     ["holds a vigil bundle", "--force"]),
    # item 11: one line where a traceback was
    ("score-kpi-short", ["score", "--bundle", "{kpi}", "{s}/short.csv"], ["{s}/short.csv", "20 points", "30 points"]),
    ("train-kpi-short", ["train", "kpi", "{s}/short.csv", "--out", "{s}/b"], ["20 points", "120 points"]),
    ("train-out-is-file", ["train", "kpi", str(NAB_CSV), "--out", "{s}/afile"], ["{s}/afile", "is a file"]),
    ("evaluate-report-is-file", ["evaluate", str(DCASE), "--bundle", str(DATA / "bundles/valve"), "--report",
                                 "{s}/afile"], ["is a file"]),
    ("export-c-out-is-file", ["export-c", str(DATA / "bundles/valve"), "--out", "{s}/afile"], ["is a file"]),
    ("features-out-missing-folder", ["features", str(WAV), "--set", "seed", "--out", "{s}/nope/f.npy"],
     ["{s}/nope", "does not exist"]),
    ("features-sr-0", ["features", str(WAV), "--set", "seed", "--out", "{s}/f.npy", "--sr", "0"], ["--sr 0"]),
    ("bench-repeat-0", ["bench", "--bundle", str(DATA / "bundles/fan"), str(WAV), "--repeat", "0"], ["--repeat 0"]),
    ("simulate-payload-100000", ["simulate", str(EDF), "--channels", "Direct_1", "--out", "{s}/x.frames",
                                 "--payload", "100000"], ["--payload 100000", "514"]),
    ("svm-anomaly-fit-0", ["train", "audio", str(DCASE), "--machine-type", "valve", "--detector", "svm",
                           "--anomaly-fit-fraction", "0", "--out", "{s}/b"], ["--anomaly-fit-fraction 0", "svm"]),
    # item 12: evaluation on a training record or without labels says so
    ("evaluate-ecg-training-record", ["evaluate", "--bundle", str(DATA / "bundles/ecg-donut"),
                                      str(ADFECG / "r01.edf"), "--report", "{s}/r"], ["r01.edf", "trained on"]),
    ("evaluate-kpi-no-labels", ["evaluate", "--bundle", "{kpi}", str(NAB_TEST), "--report", "{s}/r"],
     ["no label column", "--labels"]),
]


@pytest.fixture(scope="module")
def kpi_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A Donut bundle (window 30, 1 epoch) on another real NAB series, and what `train` printed.

    `--score donut`: the default (auto) serves z-score + spectral residual on a series without labels,
    whose window is 720 points whatever --window says."""
    out = tmp_path_factory.mktemp("kpi") / "bundle"
    result = run_vigil("train", "kpi", str(NAB_TRAIN), "--epochs", "1", "--window", "30", "--score", "donut",
                       "--out", str(out), check=True)
    return out, result


SLOW_CASES = {"svm-anomaly-fit-0"}  # reads every valve clip's features before it refuses


@pytest.mark.parametrize(("args", "needles"), [  # the cases given the trained {kpi} bundle are training tests
    pytest.param(*c[1:], id=c[0], marks=[pytest.mark.training] * any("{kpi}" in a for a in c[1])
                 + [pytest.mark.slow] * (c[0] in SLOW_CASES)) for c in CASES])
def test_one_line_and_nothing_lost(args: list[str], needles: list[str], scratch: Path,
                                   request: pytest.FixtureRequest) -> None:
    fill = {"s": str(scratch)}
    if any("{kpi}" in a for a in args):
        fill["kpi"] = str(request.getfixturevalue("kpi_bundle")[0])
    before = {p: p.read_bytes() for p in scratch.rglob("*") if p.is_file()}
    valve = (DATA / "bundles/valve/manifest.json").read_bytes()
    assert_clean_error([a.format(**fill) for a in args], *[n.format(**fill) for n in needles])
    assert {p: p.read_bytes() for p in scratch.rglob("*") if p.is_file()} == before  # nothing changed
    assert (DATA / "bundles/valve/manifest.json").read_bytes() == valve


def test_force_replaces_a_vigil_output_only(tmp_path: Path) -> None:
    """export-c into its own earlier output needs --force; simulate --force replaces its frames file."""
    out = tmp_path / "headers"
    run_vigil("export-c", str(DATA / "bundles/valve"), "--out", str(out), check=True)
    assert_clean_error(["export-c", str(DATA / "bundles/valve"), "--out", str(out)], "--force")
    run_vigil("export-c", str(DATA / "bundles/valve"), "--out", str(out), "--force", check=True)
    (out / "notes.txt").write_text("mine")
    assert_clean_error(["export-c", str(DATA / "bundles/valve"), "--out", str(out), "--force"], "notes.txt")
    assert (out / "notes.txt").read_text() == "mine"
    frames = tmp_path / "x.frames"
    frames.write_bytes(b"old")
    run_vigil("simulate", str(EDF), "--channels", "Direct_1", "--out", str(frames), "--force", check=True)
    assert frames.stat().st_size > 1000


def test_failed_export_c_keeps_the_headers_it_was_to_replace(tmp_path: Path) -> None:
    """export-c --force cleared the old headers before reading the bundle: a bad bundle left an empty folder."""
    out = tmp_path / "headers"
    run_vigil("export-c", str(DATA / "bundles/valve"), "--out", str(out), check=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken"
    shutil.copytree(DATA / "bundles/valve", broken)
    (broken / "maha_int8.tflite").write_bytes(b"not the model")  # a member of the fused bundle
    assert_clean_error(["export-c", str(broken), "--out", str(out), "--force"], "sha256")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "headers"]  # no staging folder left


def test_new_bundle_is_readable_like_any_folder(tiny_bundle: Path) -> None:
    """A trained bundle gets mkdir's permissions (umask applied), not mkdtemp's 0700."""
    assert tiny_bundle.stat().st_mode & 0o055 == 0o055


def test_score_json_into_head_ends_quietly() -> None:
    """`vigil score ... --json | head -c 100`: no BrokenPipeError traceback."""
    files = [str(p) for p in sorted((DATA / "samples").glob("*/*.wav"))] * 3
    score = subprocess.Popen([*VIGIL, "score", "--bundle", str(DATA / "bundles/fan"), *files, "--json"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert score.stdout is not None and score.stderr is not None
    first = score.stdout.read(100)
    score.stdout.close()  # what head does once it has its lines
    err = score.stderr.read().decode()
    assert score.wait(60) in (0, 141) and len(first) == 100
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_kpi_without_labels_accepts_nab_windows(kpi_bundle: tuple[Path, object], tmp_path: Path) -> None:
    """NAB's combined_windows.json labels a NAB CSV; the report counts the points in its windows."""
    bundle, _ = kpi_bundle
    out = run_vigil("evaluate", "--bundle", str(bundle), str(NAB_TEST), "--labels",
                    str(NAB / "labels" / "combined_windows.json"), "--report", str(tmp_path / "r"), "--json",
                    check=True)
    result = json.loads(out.stdout)
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text())
    assert len(windows["realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv"]) == 2
    m = result["files"][NAB_TEST.name]["int8"]
    assert result["labels"] == "nab windows" and 0 < m["anomalous_points"] < m["points"]
    assert m["auc"] is not None
