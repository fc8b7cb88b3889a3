"""`vigil run` on an ECG file primes the fetal quality monitor from the file's start, as `vigil beats` does:
a fault in the first seconds is judged against the leads' typical values, not against itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.fetal.analyze import analyze
from edge.fetal.stage import FetalStage
from edge.io.multilead import open_leads
from edge.sources.file import EdfRecording
from tests.conftest import ROOT
from tests.fetal_stream import SHORT_EVENTS
from tests.leads_edf import LABELS, write_edf
from train.fetal_inject import _quality

R04 = ROOT.parent / "shared" / "data" / "adfecgdb" / "r04.edf"


@pytest.mark.slow  # the service and `vigil beats` on a whole record
def test_a_file_stream_primes_quality_and_finds_an_early_fault_as_vigil_beats_does(tmp_path: Path) -> None:
    """r04's first 60 s with 50 Hz mains (2x the lead's scale) on Abdomen_1 at 3-6 s: `vigil beats` has a mains
    entry there; the file stream's fetal stage, primed, raises a mains event over it (unprimed it found none:
    the episode made up a third of the typical values it was compared with)."""
    rec = open_leads(R04, LABELS)
    x = np.concatenate(list(rec.blocks(60000)))[:60000]
    rec.close()
    _quality("mains", x[:, 1], 3000, 6000, 1000.0, np.random.default_rng(1))
    path = write_edf(tmp_path / "r04_mains.edf", x)

    beats = open_leads(path)
    try:
        doc = analyze(beats).to_json()
    finally:
        beats.close()
    entries = [q for q in doc["quality"] if q["kind"] == "mains" and q["lead"] is None and q["score"] >= 0.5]
    assert entries and min(q["start_s"] for q in entries) <= 3.5 and max(q["end_s"] for q in entries) >= 5.5

    stage = FetalStage("0" * 64, 1000.0, SHORT_EVENTS)  # a mains event after 0.5 s (the default raises none)
    recording = EdfRecording(path, label="Direct_1", fs=1000.0)
    blocks = recording.blocks()
    first = next(blocks)
    channels = recording.channels()
    assert channels.rewind is not None and channels.labels == ("Direct_1", *LABELS[1:])
    stage.open(channels)  # primes from the file's start, on the reader blocks() holds open
    assert stage.chain is not None and stage.chain.quality is not None
    assert len(stage.chain.quality._history["act"]) == 600  # the whole file's frames
    events = stage.push(first).events
    for block in blocks:
        events += stage.push(block).events
    events += stage.finish()
    mains = [e for e in events if e.detector == "fetal-mains"]
    assert any(e.start_s <= 3.5 and e.end_s >= 5.5 for e in mains), mains
    assert not [e for e in mains if e.start_s > 8.0 or e.end_s < 2.0]
