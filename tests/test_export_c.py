"""`vigil export-c`: the int8 model as an aligned C array, compiled and compared with the .tflite bytes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edge.detectors.interpreter import load_interpreter
from tests.conftest import ROOT, run_vigil, starts_peer

BUNDLES = ROOT / "edge" / "data" / "bundles"


@pytest.mark.peer  # the C compiler
@pytest.mark.parametrize(("bundle", "role", "macro"), [
    ("valve", "maha", "VIGIL_FUSED_VALVE_MAHA"),
    ("ecg-donut", "decoder", "VIGIL_DONUT_ECG_DECODER"),
])
def test_exported_header_compiles_to_the_model_bytes(bundle: str, role: str, macro: str, tmp_path: Path) -> None:
    out = run_vigil("export-c", str(BUNDLES / bundle), "--out", str(tmp_path), check=True)
    headers = [Path(line) for line in out.stdout.split()]
    header = next(h for h in headers if h.name.endswith(f"_{role}.h"))
    starts_peer("the C compiler")
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "no C compiler: install build-essential"
    exe = tmp_path / "dump"
    subprocess.run([compiler, "-std=gnu11", "-Wall", "-Werror", f'-DMODEL_HEADER="{header}"',
                    f"-DMODEL_DATA={macro.lower()}_data", f"-DINPUT_SCALE={macro}_INPUT_SCALE",
                    f"-DINPUT_ZERO={macro}_INPUT_ZERO_POINT", "-Wno-unused-variable",
                    str(ROOT / "tests" / "c" / "dump_model.c"), "-o", str(exe)], check=True)
    dumped = tmp_path / "model.tflite"
    length, remainder, scale, zero = subprocess.run([str(exe), str(dumped)], capture_output=True, text=True,
                                                    check=True).stdout.split()
    model = BUNDLES / bundle / f"{role}_int8.tflite" if role != "model" else BUNDLES / bundle / "model_int8.tflite"
    assert dumped.read_bytes() == model.read_bytes() and int(length) == model.stat().st_size
    assert remainder == "0"  # 16-byte aligned, as TensorFlow Lite Micro wants
    detail = load_interpreter(model).get_input_details()[0]
    assert float(scale) == pytest.approx(detail["quantization"][0], rel=1e-6)
    assert int(zero) == detail["quantization"][1]
