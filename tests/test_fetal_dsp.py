"""edge.fetal.dsp against scipy.signal, which it replaces on the gateway (for memory), and the gateway's
fetal path kept free of scipy.signal."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from edge.fetal import dsp
from tests.conftest import ROOT

ADFECG = ROOT.parent / "shared" / "data" / "adfecgdb"


def test_find_peaks_equals_scipy_with_plateaus_heights_and_distances() -> None:
    rng = np.random.default_rng(7)
    for trial in range(600):
        x = rng.normal(size=int(rng.integers(0, 300)))
        if trial % 3 == 0:
            x = np.round(x, 1)  # flat tops and ties of height
        height = None if trial % 2 else float(rng.normal())
        distance = None if trial % 4 == 1 else float(rng.uniform(1, 30))
        expected = signal.find_peaks(x, height=height, distance=distance)[0]
        np.testing.assert_array_equal(dsp.find_peaks(x, height=height, distance=distance), expected,
                                      err_msg=f"trial {trial}")


def test_find_peaks_flat_top_counts_once_at_its_middle() -> None:
    x = np.array([0.0, 1.0, 3.0, 3.0, 3.0, 3.0, 1.0, 2.0, 2.0])  # a trailing plateau is no peak
    np.testing.assert_array_equal(dsp.find_peaks(x), [3])


def test_find_peaks_with_infinite_ends_and_refusals() -> None:
    ac = np.array([-np.inf, 0.2, 0.5, 0.1, 0.4, -np.inf])  # as period_candidates pads the autocorrelation
    np.testing.assert_array_equal(dsp.find_peaks(ac), signal.find_peaks(ac)[0])
    np.testing.assert_array_equal(dsp.find_peaks(ac), [2, 4])
    with pytest.raises(ValueError, match="1-D"):
        dsp.find_peaks(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"distance 0\.5"):
        dsp.find_peaks(ac, distance=0.5)


@pytest.mark.parametrize("fs", [250.0, 1000.0])
def test_bandpass_designs_of_orders_1_to_4_equal_scipy(fs: float) -> None:
    """Odd orders on wide bands give real poles (paired two to a section), narrow ones conjugate pairs."""
    for order in (1, 2, 3, 4):
        for low, high in ((1.0, 100.0), (5.0, 25.0), (10.0, 45.0), (0.5, 0.45 * fs), (30.0, 0.49 * fs)):
            ours = dsp.butter_bandpass_sos(order, low, high, fs)
            theirs = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
            assert ours.shape == theirs.shape == (order, 6)
            _, h_ours = signal.sosfreqz(ours, 4096, fs=fs)
            _, h_theirs = signal.sosfreqz(theirs, 4096, fs=fs)
            np.testing.assert_allclose(h_ours, h_theirs, atol=1e-8, err_msg=f"order {order}, {low}-{high} Hz")
    with pytest.raises(ValueError, match="0 < low < high < fs / 2"):
        dsp.butter_bandpass_sos(2, 50.0, 40.0, fs)
    with pytest.raises(ValueError, match="0 < f0 < fs / 2"):
        dsp.notch_sos(fs, 30.0, fs)


@pytest.mark.parametrize("fs", [250.0, 500.0, 1000.0])
def test_filters_equal_scipy_on_a_real_abdominal_recording(fs: float) -> None:
    pyedflib = pytest.importorskip("pyedflib")
    with pyedflib.EdfReader(str(ADFECG / "r01.edf")) as edf:
        x = np.stack([edf.readSignal(k, 0, 12000) for k in range(1, 5)], axis=1)  # 12 s of 4 abdominal leads
    for low, high, order in ((1.0, 45.0, 2), (8.0, 40.0, 3)):
        ours = dsp.butter_bandpass_sos(order, low, high, fs)
        theirs = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
        _, h_ours = signal.sosfreqz(ours, 2048, fs=fs)
        _, h_theirs = signal.sosfreqz(theirs, 2048, fs=fs)
        np.testing.assert_allclose(h_ours, h_theirs, atol=1e-9)
        y = dsp.sosfiltfilt(ours, x)
        assert y.shape == x.shape
        np.testing.assert_allclose(y, signal.sosfiltfilt(theirs, x, axis=0), atol=1e-9 * np.abs(x).max())
    for f0 in (50.0, 60.0):
        notch = dsp.notch_sos(f0, 30.0, fs)
        np.testing.assert_allclose(notch, signal.tf2sos(*signal.iirnotch(f0, 30.0, fs=fs)), atol=1e-12)
        np.testing.assert_allclose(dsp.sosfiltfilt(notch, x[:, 0]),
                                   signal.sosfiltfilt(notch, x[:, 0]), atol=1e-9 * np.abs(x).max())


def test_fftconvolve_same_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    for n, m in ((12000, 161), (50, 61), (7, 3)):
        a, b = rng.normal(size=n), rng.normal(size=m)
        np.testing.assert_allclose(dsp.fftconvolve_same(a, b), signal.fftconvolve(a, b, mode="same"), atol=1e-10)


def test_sosfiltfilt_at_its_padding_length_and_without_channels() -> None:
    sos = dsp.butter_bandpass_sos(2, 1.0, 45.0, 1000.0)  # 2 sections: padding 3 * 5 = 15 samples
    with pytest.raises(ValueError, match="longer than the filter's padding"):
        dsp.sosfiltfilt(sos, np.ones(15))
    x = np.random.default_rng(1).normal(size=(16, 3))
    np.testing.assert_allclose(dsp.sosfiltfilt(sos, x), signal.sosfiltfilt(sos, x, axis=0), atol=1e-12)
    assert dsp.sosfiltfilt(sos, np.zeros((300, 0))).shape == (300, 0)


def test_no_fetal_module_imports_scipy_signal() -> None:
    """Read, not run: a branch a test never reaches must not import it either."""
    import ast

    for path in sorted((ROOT / "edge" / "fetal").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "scipy.signal" or n.startswith("scipy.signal.") for n in names), path.name


def test_fetal_chain_runs_without_scipy_signal() -> None:
    """A wearable's minute through the chain (beats, FHR, quality) imports no scipy.signal: its 49 MB
    were a third of the live gateway's resident memory."""
    code = (
        "import sys, numpy as np, pyedflib\n"
        "from edge.fetal.chain import FetalChain\n"
        f"edf = pyedflib.EdfReader({str(ADFECG / 'r01.edf')!r})\n"
        "x = np.stack([edf.readSignal(k, 0, 60000) for k in range(1, 5)], axis=1)\n"
        "chain = FetalChain(1000.0, ['a1', 'a2', 'a3', 'a4'])\n"
        "beats = sum(chain.push(x[i:i + 23]).fetal.size for i in range(0, x.shape[0], 23))\n"
        "print(beats, 'scipy.signal' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    beats, imported = out.stdout.split()
    assert int(beats) > 60  # the chain found the fetal beats of the minute (about 130 bpm)
    assert imported == "False"
