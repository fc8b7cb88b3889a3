"""`vigil demo`, machine sound: per machine id, the bundle fitted on that machine's normal clips scores
clips of the same machine it never saw (neither fitted on nor used for its thresholds).

The bundled samples are a few such clips per machine; each shipped manifest also holds the figures of
the machine's every held-out clip (``provenance.held_out``: counts, AUC and pAUC, written by
scripts/train_bundled_audio.py), printed beside the samples' decisions with the table they come from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.bundle.loader import load_bundle
from edge.detectors.base import load_detector
from edge.errors import VigilError
from edge.pipeline.file_scoring import score_file
from edge.text import plural


def demo_sound(data: Path, as_json: bool) -> None:
    """Score data/samples/<type>/*.wav with data/bundles/<type> (its default variant), machine by machine."""
    machines = sorted(p.parent.name for p in (data / "samples").glob("*/*.wav"))
    if not machines:
        raise VigilError(f"{data / 'samples'}: no bundled sample clips found")
    right = {"normal": [0, 0], "anomaly": [0, 0]}  # per truth: decided as labelled, clips
    table = None
    for machine in sorted(set(machines)):
        bundle = load_bundle(data / "bundles" / machine)
        detector = load_detector(bundle)
        held: dict[str, Any] = bundle.manifest.provenance.get("held_out") or {}
        table = held.get("table", table)
        ident = held.get("machine_id", "?")
        fitted = len(bundle.manifest.provenance.get("fit_files", []))
        if not as_json:
            print(f"{machine} {ident}: {bundle.detector_kind} bundle ({detector.variant}) fitted on "
                  f"{plural(fitted, 'normal clip')} of this machine; scoring clips of it that it never saw")
        for path in sorted((data / "samples" / machine).glob("*.wav")):
            result = score_file(bundle, detector, path)
            truth = "anomaly" if path.name.startswith("anomaly") else "normal"
            right[truth][0] += (truth == "anomaly") == result.anomalous
            right[truth][1] += 1
            if as_json:
                print(json.dumps({"machine_type": machine, "machine_id": ident, "truth": truth, **result.to_json()}))
                continue
            verdict = "ANOMALY" if result.anomalous else "normal "
            print(f"  {path.name:36s} truth {truth:8s} -> {verdict} score {result.clip_score:8.3f} "
                  f"(threshold {result.threshold:.3f}, {plural(len(result.events), 'event')})")
        if held and not as_json:
            v = detector.variant
            print(f"  all {held['normal']} + {held['anomalous']} unseen clips of {machine} {ident} (normal + "
                  f"anomalous, 10 s): AUC {held[f'auc_{v}']:.3f}, pAUC {held[f'pauc_{v}']:.3f}")
    if not as_json:
        (nr, nn), (ar, an) = right["normal"], right["anomaly"]
        print(f"\n{nr + ar} of {nn + an} clips decided as labelled: {nr} of {nn} normal clips called normal, "
              f"{ar} of {an} anomalous clips called anomalous. Few clips: per machine id over repeated splits, "
              f"hard machines included, see {table or 'reports/machine-sound/README.md'}\n")
