"""The `vigil` command: parses and dispatches. Each command's work lives in ``edge/commands/``
(one module per command; `run` and `status` in ``edge/service/``); `train` and
`evaluate` are loaded from the ``train`` package only when asked for, so the gateway never imports
TensorFlow.

Every user-facing error is a :class:`edge.errors.VigilError`: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from pathlib import Path

from edge import __version__
from edge.errors import ConfigError, MissingExtraError, VigilError, file_system_error
from edge.features.spec import FEATURE_SETS
from edge.outputs import terminated
from edge.text import DefaultsParser

log = logging.getLogger("vigil")


def _features(a: argparse.Namespace) -> int:
    from edge.commands import scoring

    return scoring.features(a.file, set_name=a.set, out=a.out, sr=a.sr, channel=a.channel, force=a.force)


def _score(a: argparse.Namespace) -> int:
    from edge.commands import scoring

    return scoring.score(a.files, bundle_path=a.bundle, variant=a.variant, channel=a.channel, as_json=a.json,
                           samples=a.samples, iterations=a.iterations, columns=a.columns)


def _bench(a: argparse.Namespace) -> int:
    from edge.commands import scoring

    if a.repeat < 1:
        raise ConfigError(f"--repeat {a.repeat}: expected at least 1")
    if a.bundle is None:  # no model: the live fetal beat chain on abdominal EDF/WFDB recordings
        from edge.commands import beats as cli_beats

        return cli_beats.bench(a, scoring.pin_to_one_core() if a.one_core else None)
    return scoring.bench_bundle(a.files, bundle_path=a.bundle, variant=a.variant, channel=a.channel,
                                  as_json=a.json, samples=a.samples, iterations=a.iterations, repeat=a.repeat,
                                  one_core=a.one_core, columns=a.columns)


def _demo(a: argparse.Namespace) -> int:
    from edge.commands import scoring

    return scoring.demo(as_json=a.json)


def _export_c(a: argparse.Namespace) -> int:
    from edge.commands.export_c import export_c
    from edge.outputs import staged_dir

    with staged_dir(a.out, "headers", force=a.force) as staging:  # old headers kept if the export fails
        written = export_c(a.bundle, staging)
    for path in written:
        print(a.out / path.name)
    return 0


def _simulate(a: argparse.Namespace) -> int:
    from edge.commands import simulate
    from edge.outputs import check_file

    check_file(a.out, force=a.force, what="frames file")
    opts = simulate.SimulateOptions(channels=a.channels, format=a.format, uv_per_lsb=a.uv_per_lsb, payload=a.payload,
                                    loss=a.loss, duplicate=a.duplicate, reorder=a.reorder, corrupt=a.corrupt,
                                    seed=a.seed, realtime=a.realtime)
    return simulate.command(a.file, a.out, opts, as_json=a.json)


def _run(a: argparse.Namespace) -> int:
    from edge.service.daemon import run_command

    return run_command(a.config, a.state_dir, a.http)


def _status(a: argparse.Namespace) -> int:
    from edge.observe.health import status_command

    return status_command(a.config, a.state_dir)


def _devices(a: argparse.Namespace) -> int:
    from edge.commands.devices import devices

    return devices(scan_s=a.scan_s, ble=not a.no_ble)


def _train_passthrough(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module("train.cli")
    except ImportError as exc:
        raise MissingExtraError(f"`vigil {args.command}` needs the train extra ({exc.name} is missing): "
                                "pip install '.[train]' in the checkout") from None
    return int(module.main([args.command, *args.rest], verbose=args.verbose))


def build_parser() -> argparse.ArgumentParser:
    parser = DefaultsParser(prog="vigil", description="Edge anomaly detection for body and machine signals.")
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO) to stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=DefaultsParser)

    p = sub.add_parser("features", help="compute a feature set for every window of a WAV")
    p.add_argument("file", type=Path)
    p.add_argument("--set", choices=FEATURE_SETS, required=True, help="seed: write-up windows; logmel: DCASE frames")
    p.add_argument("--out", type=Path, required=True, help=".npy file for the (windows, dim) float32 array")
    p.add_argument("--sr", type=int, default=16000, help="analysis sample rate in Hz (default 16000)")
    p.add_argument("--channel", type=int, help="0-based channel to use (default: mix all channels)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
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
        p.add_argument("--columns", help="KPI CSV: TIMESTAMP,VALUE[,LABEL] column names or 0-based positions "
                       "(default: timestamp,value,label by name, or by position without a header)")
        p.set_defaults(func=func)
        if name == "bench":
            p.add_argument("--repeat", type=int, default=1, help="replay the files this many times")
            p.add_argument("--all-cores", dest="one_core", action="store_false",
                           help="do not pin the process to one CPU (pinned by default)")

    from edge.commands import beats as cli_beats

    cli_beats.add_parser(sub)

    p = sub.add_parser("export-c", help="write a bundle's int8 model(s) as C headers for TensorFlow Lite Micro")
    p.add_argument("bundle", type=Path, metavar="BUNDLE")
    p.add_argument("--out", type=Path, required=True, help="folder for the headers")
    p.add_argument("--force", action="store_true", help="replace headers an earlier export-c wrote there")
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
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("run", help="the gateway service: every configured stream scored, events to log and MQTT")
    p.add_argument("--config", type=Path, help="TOML config (default: the embedded demo of bundled recordings)")
    p.add_argument("--state-dir", type=Path, help="outbox and event log folder (default: the config's "
                   "state_dir, else $STATE_DIRECTORY, else ~/.local/state/vigil)")
    p.add_argument("--http", metavar="HOST:PORT", help="serve the live page and /metrics there (default: [http] "
                   "in the config, else none; 127.0.0.1 keeps it on this machine)")
    p.set_defaults(func=_run)

    p = sub.add_parser("status", help="the running service's state (from the status file in its state directory)")
    p.add_argument("--config", type=Path, help="the service's TOML config (its state_dir is read)")
    p.add_argument("--state-dir", type=Path, help="the service's state directory (overrides --config)")
    p.set_defaults(func=_status)

    p = sub.add_parser("devices", help="list audio inputs and nearby BLE devices")
    p.add_argument("--scan-s", type=float, default=5.0, help="BLE scan time in seconds")
    p.add_argument("--no-ble", action="store_true", help="audio inputs only")
    p.set_defaults(func=_devices)

    from edge.commands import bundle_versions, calibrate, record  # their options live beside their code

    calibrate.add_parser(sub)
    record.add_parser(sub)
    bundle_versions.add_parser(sub)

    p = sub.add_parser("demo", help="score the bundled sample clips with the bundled models "
                       "(per machine id: clips it never saw)")
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
    verbose = argv[:1] in (["-v"], ["--verbose"]) and argv[1:2] in (["train"], ["evaluate"])
    argv = argv[1:] if verbose else argv
    if argv and argv[0] in ("train", "evaluate"):
        # handed over whole: argparse's REMAINDER would not take options that come first
        args = argparse.Namespace(command=argv[0], rest=argv[1:], verbose=verbose, func=_train_passthrough)
    else:
        args = build_parser().parse_args(argv)
    level = logging.INFO if args.verbose or args.command == "run" else logging.WARNING
    logging.basicConfig(level=level, format="vigil: %(message)s")
    if args.command != "run" and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)  # `vigil run` stops on SIGTERM its own way
    try:
        return int(args.func(args))
    except VigilError as exc:
        print(f"vigil: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `vigil score ... | head`: the reader left; stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        return 141
    except OSError as exc:  # disk full, read-only or not permitted: one line, not a traceback
        error = file_system_error(exc, _output_option(argv))
        if error is None:
            raise
        print(f"vigil: error: {error}", file=sys.stderr)
        return 2


def _terminated(signum: int, _frame: object) -> None:
    terminated(signum)  # edge.outputs: raised now, and again at the next output step if it was swallowed


def _output_option(argv: list[str]) -> str | None:
    """The --out or --report value on the command line: the place a write without a file name failed."""
    for i, arg in enumerate(argv):
        if arg in ("--out", "--report") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(("--out=", "--report=")):
            return arg.split("=", 1)[1]
    return None


if __name__ == "__main__":
    sys.exit(main())
