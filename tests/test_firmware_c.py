"""Firmware and gateway agree byte for byte: the generated C header's encoder against the Python codec."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.cheader import C_DIR, header_text, make_test_vectors
from firmware_bridge.codec import decode
from tests.conftest import ROOT, starts_peer

VECTORS = json.loads((C_DIR / "test_vectors.json").read_text())


def test_committed_header_and_vectors_are_current() -> None:
    assert (C_DIR / "vigil_protocol.h").read_text() == header_text()
    assert make_test_vectors() == VECTORS


def test_vectors_decode_to_their_samples() -> None:
    for v in VECTORS:
        frame = decode(bytes.fromhex(v["hex"]))
        assert frame.counter == v["counter"] and frame.fmt == v["format"]
        np.testing.assert_array_equal(frame.samples, np.array(v["samples"]).reshape(v["sets"], v["channels"]))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    starts_peer("the C compiler")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("no C compiler (cc/gcc) found: install build-essential")
    exe = tmp_path_factory.mktemp("c") / "encode_vectors"
    subprocess.run([compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-I", str(C_DIR),
                    str(ROOT / "tests" / "c" / "encode_vectors.c"), "-o", str(exe)], check=True)
    return exe


@pytest.mark.peer  # the C compiler, in the encoder fixture
def test_c_encoder_writes_the_same_bytes(encoder: Path) -> None:
    lines = [" ".join(map(str, [v["counter"], v["format"], v["channels"], v["sets"],
                                *np.array(v["samples"]).ravel().tolist()])) for v in VECTORS]
    out = subprocess.run([str(encoder)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    assert out.stdout.split() == [v["hex"] for v in VECTORS]
