"""`vigil beats FILE...`: fetal and maternal beats, FHR, signal quality and the CTG reading (FIGO 2015) of
abdominal recordings.

One JSON object per line and file with --json (the CTG reading under "ctg"); a readable summary otherwise;
--plot draws the leads with beats marked and the FHR trace with quality events shaded (matplotlib, desktop only).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError, InputFileError, MissingExtraError
from edge.fetal.analyze import BeatsResult, analyze
from edge.fetal.beat_tracker import BeatParams, process_window
from edge.fetal.cancel import METHODS
from edge.io.multilead import open_leads
from edge.outputs import check_file

# shorter recordings gave made-up beats: 2-s cuts of adfecgdb r01/r04/r08/r10 found 6-9 beats where 4-5 were
# annotated (1-5 of them right); every 3-s cut (at 0 and 100 s of r01, r04, r07, r08, r10) found the annotated ones
MIN_SECONDS = 3.0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("beats", help="fetal/maternal beats, FHR and signal quality of abdominal ECG (EDF or WFDB)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE",
                   help="EDF recording, or WFDB record (.hea path or path without extension)")
    p.add_argument("--channels", help="comma-separated lead labels (default: every Abdomen_* lead)")
    p.add_argument("--cancel", choices=METHODS, default=BeatParams().cancel,
                   help="maternal cancellation (default %(default)s; none for a direct fetal lead)")
    p.add_argument("--json", action="store_true", help="one JSON object per line and file")
    p.add_argument("--plot", type=Path, metavar="OUT.png", help="draw leads, beats and FHR (one file only)")
    p.add_argument("--force", action="store_true", help="replace an existing --plot file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.plot is not None and len(args.files) != 1:
        raise ConfigError(f"--plot {args.plot}: draws one recording, got {len(args.files)} files")
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise ConfigError(f"--plot {args.plot}: expected a .png file name")
    if args.plot is not None:  # before the analysis: never over a file of the user's, nor into a missing folder
        check_file(args.plot, force=args.force, option="--plot", what=".png file")
    channels = [c.strip() for c in args.channels.split(",") if c.strip()] if args.channels else None
    params = BeatParams(cancel=args.cancel)
    for path in args.files:
        rec = open_leads(path, channels)
        if rec.seconds < MIN_SECONDS:
            rec.close()
            raise InputFileError(f"{path}: {rec.seconds:.1f} s of signal, shorter than the {MIN_SECONDS:g} s the fetal "
                                 "beat detector needs (expected a longer recording)")
        try:
            result = analyze(rec, params)
            if args.plot is not None:
                plot_beats = _desktop_plotter()
                plot_beats(rec, result, args.plot)
        finally:
            rec.close()
        try:
            print(json.dumps(result.to_json()) if args.json else beats_summary(result), flush=True)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as cat does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    return 0


def beats_summary(r: BeatsResult) -> str:
    bpm = np.array([p.bpm for p in r.fhr])
    mrr = np.diff(r.maternal) / r.fs
    lines = [f"{r.file}: {r.seconds:.1f} s at {r.fs:g} Hz, leads {', '.join(r.labels)}",
             f"  fetal beats    {r.fetal.size:6d}   FHR median {_med(bpm)} bpm "
             f"(5-95 %: {_pct(bpm, 5)}-{_pct(bpm, 95)}), {len(r.fhr)} intervals kept",
             f"  maternal beats {r.maternal.size:6d}   MHR median {_med(60 / mrr) if mrr.size else '-'} bpm"]
    overall = [q for q in r.quality if getattr(q, "lead", None) is None]
    if overall:
        kinds = sorted({q.kind for q in overall})
        worst = {k: max(q.score for q in overall if q.kind == k) for k in kinds}
        secs = {k: sum(q.end_s - q.start_s for q in overall if q.kind == k) for k in kinds}
        lines.append("  quality: " + "; ".join(f"{k} {secs[k]:.1f} s (worst {worst[k]:.2f})" for k in kinds))
    else:
        lines.append("  quality: no segment flagged")
    if r.ctg is not None:
        lines.append(f"  CTG (FIGO 2015): {r.ctg.summary()}")
    for e in r.events:
        lines.append(f"  event {e}")
    return "\n".join(lines)


def _med(v: np.ndarray) -> str:
    return f"{np.median(v):.1f}" if v.size else "-"


def _pct(v: np.ndarray, q: float) -> str:
    return f"{np.percentile(v, q):.0f}" if v.size else "-"


def bench(args: argparse.Namespace, cpu: int | None) -> int:
    """`vigil bench FILE.edf` without a bundle: the fetal chain (beats, FHR, quality, events) over
    0.1-s blocks as fast as possible: real-time factor, beat -> FHR latency, peak RSS."""
    import resource
    import time

    from edge.fetal.chain import FetalChain

    recorded_s = cpu_s = 0.0
    beats = events = 0
    latency: list[float] = []
    push_ms: list[float] = []
    for _ in range(args.repeat):
        for path in args.files:
            rec = open_leads(path)
            try:
                chain = FetalChain(rec.fs, rec.labels)
                # a started gateway has designed its filters and warmed its imports: do that first
                warm = np.random.default_rng(0).standard_normal((chain.beats.window, len(rec.labels)))
                process_window(warm, rec.fs, chain.beats.params)
                size = max(1, round(rec.fs / 10))
                pos = 0
                cpu0 = time.process_time()
                for block in rec.blocks(size):
                    w0 = time.perf_counter()
                    out = chain.push(block)
                    push_ms.append((time.perf_counter() - w0) * 1000)
                    pos += block.shape[0]
                    # stream time from a beat to the block that delivers its FHR point, plus that block's work
                    latency += [pos / rec.fs - p.t + push_ms[-1] / 1000 for p in out.fhr]
                    beats += out.fetal.size
                    events += len(out.events)
                out = chain.finish()
                beats += out.fetal.size
                events += len(out.events)
                cpu_s += time.process_time() - cpu0
                recorded_s += rec.seconds
            finally:
                rec.close()
    lat = np.asarray(latency)
    report = {
        "files": len(args.files), "recorded_seconds": round(recorded_s, 3), "cpu_seconds": round(cpu_s, 4),
        "real_time_factor": round(cpu_s / recorded_s, 6) if recorded_s else None,
        "fetal_beats": beats, "events": events,
        "beat_to_fhr_latency_s": {"median": round(float(np.median(lat)), 3) if lat.size else None,
                                  "max": round(float(lat.max()), 3) if lat.size else None},
        "block_ms": {"median": round(float(np.median(push_ms)), 3), "max": round(float(np.max(push_ms)), 3)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "pinned_cpu": cpu,
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:22s} {value}")
    return 0


def _desktop_plotter() -> Any:
    """`train.fetal_plot.plot_beats`, loaded by name: the plot needs the train extra (matplotlib),
    which a gateway does not install."""
    try:
        return importlib.import_module("train.fetal_plot").plot_beats
    except ImportError as exc:
        raise MissingExtraError(f"--plot needs the train extra ({exc.name} is missing): "
                                "pip install '.[train]' in the checkout") from None


def demo_fetal(path: Path, as_json: bool) -> None:
    """`vigil beats` on a bundled abdominal EDF, compared with the fetal R-peaks annotated in the file
    (EDF+ annotations, the reference): sensitivity, positive predictivity and F1 at 50 ms."""
    from edge.fetal.beat_match import match_beats
    from edge.io.edf import EdfFile

    with EdfFile(path) as edf:
        onsets, _, texts = edf.annotations()
    reference = np.array([o for o, t in zip(onsets, texts, strict=True) if t == "QRS"], dtype=float)
    rec = open_leads(path)
    try:
        result = analyze(rec)
    finally:
        rec.close()
    score = match_beats(reference, result.fetal / result.fs, 0.05)
    if as_json:
        print(json.dumps({"modality": "fetal", **result.to_json(), "reference_beats": score.reference,
                          "sensitivity": score.sensitivity, "ppv": score.ppv, "f1": score.f1}))
        return
    print(f"fetal beats {beats_summary(result)}")
    print(f"  against the file's {score.reference} annotated fetal beats (50 ms): Se {score.sensitivity:.3f}, "
          f"PPV {score.ppv:.3f}, F1 {score.f1:.3f}")
