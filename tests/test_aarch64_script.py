"""The aarch64 check asks pip for the wheels a Pi needs: without the manylinux_2_34 and _2_27
aarch64 tags pip silently picks an old ai-edge-litert and misses tflite-runtime; and the edge extra
carries the audio reader, which has aarch64 wheels. On aarch64 the extra takes the LiteRT release
that ran under emulation, not the one that crashed there; elsewhere it takes what the venv has."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement

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


def _litert(machine: str) -> Requirement:
    edge = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["edge"]
    found = [r for r in map(Requirement, edge) if r.name == "ai-edge-litert"
             and (r.marker is None or r.marker.evaluate({"platform_machine": machine}))]
    assert len(found) == 1, edge
    return found[0]


def test_edge_extra_takes_the_litert_proven_on_aarch64() -> None:
    """reports/aarch64.md: 2.1.6 ran with x86's decisions under a Pi 4's CPU model, 2.3.0 crashed."""
    report = (ROOT / "reports" / "aarch64.md").read_text()
    assert re.search(r"ai-edge-litert 2\.3\.0 \| cortex-a72 \(Pi 4\) \| crash", report)
    assert re.search(r"ai-edge-litert 2\.1\.6 \| cortex-a72 \(Pi 4\) \| ok", report)
    pi = _litert("aarch64").specifier
    assert "2.1.6" in pi and "2.3.0" not in pi and "2.2.0" not in pi  # 2.2.0 never ran under emulation
    assert version("ai-edge-litert") in _litert("x86_64").specifier  # the x86_64 venv stays as it is


def test_pi_instructions_install_this_project() -> None:
    """The PyPI name `vigil` is another project: the docs install vigil-edge from the checkout, the
    aarch64 check builds the wheel under the distribution's name."""
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert name != "vigil"
    wheel = re.sub(r"[-_.]+", "_", name)
    assert f'"$work"/wheel/{wheel}-*.whl' in (ROOT / "scripts" / "aarch64-check.sh").read_text()
    for doc in ("docs/gateway.md", "docs/training.md", "README.md"):
        text = (ROOT / doc).read_text()
        assert not re.search(r"pip install [^`\n]*'vigil\[", text), doc
