"""The aarch64 check (issue 10, item 17) asks pip for the wheels a Pi needs: without the
manylinux_2_34 and _2_27 aarch64 tags pip silently picks an old ai-edge-litert and misses
tflite-runtime; and the edge extra carries the audio reader, which has aarch64 wheels."""

from __future__ import annotations

import subprocess
import tomllib

from tests.conftest import ROOT


def test_script_asks_for_the_pi_wheels() -> None:
    script = ROOT / "scripts" / "aarch64-check.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    for tag in ("manylinux_2_34_aarch64", "manylinux_2_27_aarch64", "--python-version 3.11", "--only-binary :all:"):
        assert tag in text
    assert "qemu-aarch64-static -cpu" in text and "bookworm" in text
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("soundfile") for d in extras["edge"]) and any(
        d.startswith("soundfile") for d in extras["edge-legacy"])
