"""The `vigil` command. Gateway subcommands live here; `train` and `evaluate` are loaded from the
``train`` package only when asked for, so the gateway never imports TensorFlow.

Every user-facing error is a :class:`edge.errors.VigilError`: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from edge import __version__, cli_beats, cli_series
from edge.bundle import load_bundle
from edge.detector import load_detector
from edge.errors import ConfigError, MissingExtraError, VigilError
from edge.features.spec import FEATURE_SETS, FeatureSpec
from edge.scoring import ClipScore, make_stream, open_source, score_file
from edge.wav import load_mono

DATA = Path(__file__).parent / "data"
log = logging.getLogger("vigil")


def _features(args: argparse.Namespace) -> int:
    spec = FeatureSpec.default(args.set, sr=args.sr)
    y = load_mono(args.file, sr=spec.sr, channel=args.channel)
    features = spec.compute(y)
    if features.shape[0] == 0:
        raise ConfigError(f"{args.file}: {y.size / spec.sr:.3f} s is shorter than one {args.set!r} window "
                          f"({spec.window_samples / spec.sr:.3f} s)")
    np.save(args.out, features)
    print(f"{args.out}: {features.shape[0]} windows x {features.shape[1]} {args.set} features (float32)")
    return 0


def _print_clip(result: ClipScore) -> None:
    verdict = "ANOMALY" if result.anomalous else "normal"
    print(f"{result.file}: {verdict} (clip score {result.clip_score:.4f}, threshold {result.threshold:.4f}; "
          f"{len(result.window_scores)} windows, {len(result.events)} events)")


def _score(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    if bundle.modality != "audio":
        return cli_series.score(args, bundle)
    detector = load_detector(bundle, args.variant)
    for path in args.files:
        result = score_file(bundle, detector, path, channel=args.channel)
        if args.json:
            print(json.dumps(result.to_json()), flush=True)
        else:
            _print_clip(result)
    return 0


def _pin_to_one_core() -> int:
    """Pin every thread of this process (BLAS pools included) to the first allowed CPU."""
    cpu = min(os.sched_getaffinity(0))
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread may end while we walk the list
            os.sched_setaffinity(int(tid), {cpu})
    return cpu


def _bench(args: argparse.Namespace) -> int:
    cpu = _pin_to_one_core() if args.one_core else None
    if args.bundle is None:  # no model: the fetal beat chain on abdominal EDF/WFDB recordings
        return cli_beats.bench(args, cpu)
    bundle = load_bundle(args.bundle)
    if bundle.modality != "audio":
        return cli_series.bench(args, bundle, cpu)
    detector = load_detector(bundle, args.variant)
    sources = [open_source(bundle, path, channel=args.channel) for path in args.files]
    audio_s = sum(s.seconds for s in sources)
    windows = events = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(args.repeat):
        for source in sources:
            stream = make_stream(bundle, detector)
            for block in source.blocks():
                events += len(stream.push(block).events)
            events += len(stream.finish())
            windows += stream.windows
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    report = {
        "bundle": str(args.bundle), "variant": args.variant or bundle.default_variant,
        "files": len(sources), "audio_seconds": round(audio_s * args.repeat, 3),
        "cpu_seconds": round(cpu_s, 4), "wall_seconds": round(wall_s, 4),
        "real_time_factor": round(cpu_s / (audio_s * args.repeat), 6),
        "windows": windows, "events": events,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "pinned_cpu": cpu,
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:18s} {value}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Score the bundled sample clips with the bundled int8 model of their machine type."""
    samples = sorted((DATA / "samples").glob("*/*.wav"))
    if not samples:
        raise VigilError(f"{DATA / 'samples'}: no bundled sample clips found")
    if not args.json:
        print(f"vigil {__version__}: scoring {len(samples)} bundled clips with the bundled int8 dense-AE models\n")
    right = 0
    for path in samples:
        machine = path.parent.name
        bundle = load_bundle(DATA / "bundles" / machine)
        result = score_file(bundle, load_detector(bundle, "int8"), path)
        truth = "anomaly" if path.name.startswith("anomaly") else "normal"
        right += (truth == "anomaly") == result.anomalous
        if args.json:
            print(json.dumps({"machine_type": machine, "truth": truth, **result.to_json()}))
        else:
            verdict = "ANOMALY" if result.anomalous else "normal "
            print(f"{machine:12s} {path.name:32s} truth {truth:8s} -> {verdict} score {result.clip_score:8.4f} "
                  f"(threshold {result.threshold:.4f}, {len(result.events)} events)")
    if not args.json:
        print(f"\n{right} of {len(samples)} clips decided as labelled (clips unseen in training; "
              "see README for AUCs on every clip)\n")
    for path in sorted((DATA / "samples" / "ecg").glob("*.edf")):
        cli_series.demo_ecg(path, load_bundle(DATA / "bundles" / "ecg-donut"), args.json)
    return 0


def _export_c(args: argparse.Namespace) -> int:
    from edge.export_c import export_c

    for path in export_c(args.bundle, args.out):
        print(path)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from edge import simulate

    summary = simulate.run(args)
    print(json.dumps(summary) if args.json else "\n".join(f"{k:16s} {v}" for k, v in summary.items()))
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from edge.config import load_config
    from edge.service import Service, embedded_default

    config = load_config(args.config) if args.config else embedded_default(args.state_dir)
    if args.config and args.state_dir:
        from dataclasses import replace

        config = replace(config, state_dir=args.state_dir, jsonl=args.state_dir / config.jsonl.name)
    if not args.config:
        print(f"vigil run: no --config, running the embedded default (bundled recordings replayed in real time); "
              f"events in {config.jsonl}", file=sys.stderr)
    return asyncio.run(Service(config).run())


def _devices(args: argparse.Namespace) -> int:
    """Audio inputs (PortAudio) and, unless --no-ble, BLE devices seen in a short scan."""
    try:
        import sounddevice as sd

        inputs = [(i, d["name"], d["max_input_channels"], d["default_samplerate"])
                  for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
    except OSError as exc:  # no PortAudio library
        inputs = []
        print(f"audio: unavailable ({exc})")
    print("audio inputs:" if inputs else "audio inputs: none")
    for index, name, channels, rate in inputs:
        print(f"  [{index}] {name} ({channels} ch, {rate:g} Hz)")
    if args.no_ble:
        return 0
    import asyncio

    async def scan() -> list[tuple[str, str, int]]:
        from bleak import BleakScanner

        found = await BleakScanner.discover(timeout=args.scan_s, return_adv=True)
        return [(d.address, d.name or adv.local_name or "", adv.rssi) for d, adv in found.values()]

    try:
        devices = asyncio.run(scan())
    except Exception as exc:  # no adapter, no BlueZ: say so and go on
        print(f"BLE: unavailable ({type(exc).__name__}: {exc})")
        return 0
    print("BLE devices:" if devices else "BLE devices: none seen")
    for address, name, rssi in sorted(devices, key=lambda d: -d[2]):
        print(f"  {address} {name!r} RSSI {rssi} dBm")
    return 0


def _train_passthrough(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module("train.cli")
    except ImportError as exc:
        raise MissingExtraError(f"`vigil {args.command}` needs the train extra ({exc.name} is missing): "
                                "pip install 'vigil[train]'") from None
    return int(module.main([args.command, *args.rest]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Edge anomaly detection for body and machine signals.")
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("features", help="compute a feature set for every window of a WAV")
    p.add_argument("file", type=Path)
    p.add_argument("--set", choices=FEATURE_SETS, required=True, help="seed: write-up windows; logmel: DCASE frames")
    p.add_argument("--out", type=Path, required=True, help=".npy file for the (windows, dim) float32 array")
    p.add_argument("--sr", type=int, default=16000, help="analysis sample rate in Hz (default 16000)")
    p.add_argument("--channel", type=int, help="0-based channel to use (default: mix all channels)")
    p.set_defaults(func=_features)

    for name, func, text in (("score", _score, "score WAV, EDF or KPI CSV files with a bundle (gateway code path)"),
                             ("bench", _bench, "replay files through the live pipeline as fast as possible")):
        p = sub.add_parser(name, help=text)
        p.add_argument("files", nargs="+", type=Path, metavar="FILE")
        p.add_argument("--bundle", type=Path, required=name == "score",
                       help="bundle directory (manifest.json + .tflite); bench without one: the fetal beat chain")
        p.add_argument("--variant", choices=("int8", "float32"), help="model variant (default: the bundle's, int8)")
        p.add_argument("--channel", type=int, help="0-based channel to use (default: mix all channels)")
        p.add_argument("--json", action="store_true", help="JSON output (one object per line)")
        p.add_argument("--samples", type=int, help="Donut bundles: latent samples L (default: the bundle's)")
        p.add_argument("--iterations", type=int, help="Donut bundles: MCMC imputation rounds (default: the bundle's)")
        p.set_defaults(func=func)
        if name == "bench":
            p.add_argument("--repeat", type=int, default=1, help="replay the files this many times")
            p.add_argument("--all-cores", dest="one_core", action="store_false",
                           help="do not pin the process to one CPU (pinned by default)")

    cli_beats.add_parser(sub)

    p = sub.add_parser("export-c", help="write a bundle's int8 model(s) as C headers for TensorFlow Lite Micro")
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("--out", type=Path, required=True, help="folder for the headers")
    p.set_defaults(func=_export_c)

    p = sub.add_parser("simulate", help="turn an EDF recording into the wearable's BLE frames")
    p.add_argument("file", type=Path, metavar="FILE.edf")
    p.add_argument("--out", type=Path, required=True,
                   help="frames file: each frame as a u16 little-endian length, then its bytes")
    p.add_argument("--channels", default="Direct_1,Abdomen_1,Abdomen_2,Abdomen_3,Abdomen_4",
                   help="comma-separated EDF channel labels (default: all five adfecgdb channels)")
    p.add_argument("--format", choices=("int16", "int24"), default="int16")
    p.add_argument("--uv-per-lsb", type=float, default=0.1, help="ADC resolution in uV (default 0.1)")
    p.add_argument("--payload", type=int, default=244, help="ATT payload bytes (20 default MTU, 244 with DLE)")
    for name in ("loss", "duplicate", "reorder", "corrupt"):
        p.add_argument(f"--{name}", type=float, default=0.0, help=f"probability per frame ({name})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--realtime", action="store_true", help="write frames at the device's rate, not at once")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("run", help="the gateway service: every configured stream scored, events to log and MQTT")
    p.add_argument("--config", type=Path, help="TOML config (default: the embedded demo of bundled recordings)")
    p.add_argument("--state-dir", type=Path, help="outbox and event log folder (default: the config's)")
    p.set_defaults(func=_run)

    p = sub.add_parser("devices", help="list audio inputs and nearby BLE devices")
    p.add_argument("--scan-s", type=float, default=5.0, help="BLE scan time in seconds")
    p.add_argument("--no-ble", action="store_true", help="audio inputs only")
    p.set_defaults(func=_devices)

    p = sub.add_parser("demo", help="score the bundled sample clips with the bundled int8 models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_demo)

    for name, text in (("train", "train a detector and export a bundle (needs the train extra)"),
                       ("evaluate", "evaluate a bundle on labelled clips (needs the train extra)")):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_train_passthrough)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("train", "evaluate"):
        # handed over whole: argparse's REMAINDER would not take options that come first
        args = argparse.Namespace(command=argv[0], rest=argv[1:], verbose=False, func=_train_passthrough)
    else:
        args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose or args.command == "run" else logging.WARNING
    logging.basicConfig(level=level, format="vigil: %(message)s")
    try:
        return int(args.func(args))
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
