"""The modalities sit below the commands: a command asks its bundle's modality, never the reverse."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT


def test_modalities_load_no_command_module() -> None:
    # every modality registered and each of its calibration and scoring entry points' modules imported
    code = (
        "import sys, importlib\n"
        "from edge.modalities.base import modalities\n"
        "found = modalities()\n"
        "for name in ('edge.pipeline.calibration_scores', 'edge.pipeline.file_scoring', "
        "'edge.pipeline.series_scorer'):\n"
        "    importlib.import_module(name)\n"
        "print(','.join(found))\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('edge.commands'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    names, commands = out.stdout.split("\n")[:2]
    assert names.split(",") == ["audio", "ecg", "kpi"]
    assert commands == "", f"importing the modalities loaded {commands}"


def test_no_import_of_a_command_below_the_commands() -> None:
    # imports inside methods too: a modality that called up into a command would only load it when used
    offending = []
    for folder in ("modalities", "pipeline"):
        for path in sorted((ROOT / "edge" / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offending += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                              if n == "edge.commands" or n.startswith("edge.commands.")]
    assert not offending, f"imports of edge.commands below it: {', '.join(offending)}"
