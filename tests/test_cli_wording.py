"""How vigil words things: every default in --help, the user's state directory
instead of ./vigil-state, counts with the right plural, the path features really wrote."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile

from edge import cli
from edge.pipeline.file_scoring import ClipScore
from tests.conftest import run_vigil
from train import cli as train_cli


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _subparsers(sub)
    return found


@pytest.mark.parametrize("build", [cli.build_parser, train_cli.build_parser], ids=["vigil", "vigil-train"])
def test_help_shows_every_default(build: object) -> None:
    missing = []
    for prog, parser in _subparsers(build()):  # type: ignore[operator]
        entries: dict[str, str] = {}  # "--flag" -> its whole help entry in the options section
        flags: list[str] = []
        for line in parser.format_help().split("options:", 1)[-1].splitlines():
            if line.startswith("  -"):  # a new entry: "  -v, --verbose  help..." or "  --sr SR  help..."
                flags = [f.rstrip(",") for f in line.split() if f.startswith("-")][:2]
            for flag in flags:
                entries[flag] = entries.get(flag, "") + line
        for action in parser._actions:
            if (not action.option_strings or action.required or action.nargs == 0
                    or action.default in (None, False, argparse.SUPPRESS)):
                continue
            if "(default" not in entries.get(action.option_strings[-1], ""):
                missing.append(f"{prog} {action.option_strings[-1]}")
    assert not missing, f"--help does not show the default of: {', '.join(missing)}"


def test_state_dir_is_the_users_not_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge.service.daemon import embedded_default

    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    assert embedded_default().state_dir == tmp_path / "state" / "vigil"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/vigil")  # under systemd its StateDirectory wins
    assert embedded_default().state_dir == Path("/var/lib/vigil")


def test_counts_are_worded_for_one_and_many() -> None:
    one = ClipScore("a.wav", 10.0, np.zeros(1), np.zeros(1), 0.5, 1.0, 1.0, events=[object()])  # type: ignore[list-item]
    assert one.summary().endswith("1 window, 1 event)")
    two = ClipScore("a.wav", 10.0, np.zeros(2), np.zeros(2), 0.5, 1.0, 1.0, events=[object()] * 2)  # type: ignore[list-item]
    assert two.summary().endswith("2 windows, 2 events)")


def test_features_prints_the_file_it_wrote(tmp_path: Path, clip_per_type: dict[str, Path]) -> None:
    rate, samples = scipy.io.wavfile.read(clip_per_type["fan"])
    wav = tmp_path / "short.wav"
    scipy.io.wavfile.write(wav, rate, samples[: int(1.2 * rate)])  # 1.2 s: one seed window
    out = run_vigil("features", str(wav), "--set", "seed", "--out", str(tmp_path / "fnoext"), check=True)
    assert out.stdout.strip() == f"{tmp_path / 'fnoext.npy'}: 1 window x 17 seed features (float32)"
    assert np.load(tmp_path / "fnoext.npy").shape == (1, 17)
