"""Peak memory of `vigil features`, `score` and `bench` on long WAVs, and the write-up's librosa code
against `vigil features --set seed` on 30 minutes, each as a whole process.

Usage: .venv/bin/python -m benchmarks.long_files [--minutes 10 60 120] [--ratio-minutes 30] [--root DIR]
                                                 [--skip-librosa] [--json]

The WAVs are real DCASE clips from ../shared/data concatenated (16 kHz, 16-bit mono), written
block by block into a temporary folder that is removed afterwards. Each command runs as its own
process; its peak RSS is the kernel's ru_maxrss for that child (os.wait4). --root runs another
checkout's code (e.g. the main branch, for before/after figures).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tests.long_wav import make_wav

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "edge" / "data" / "bundles" / "fan"
LIBROSA = """
import sys, numpy as np, soundfile as sf
from tests.librosa_reference import seed_windows_librosa
y, sr = sf.read(sys.argv[1], dtype="float32")
np.save(sys.argv[2], seed_windows_librosa(y, sr))
"""


def measure(argv: list[str], cwd: Path) -> dict[str, float]:
    """Run one process; its wall and CPU time (s, user + system), peak RSS (MB) and exit status."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"failed ({code}): {' '.join(argv)}\n{err[-2000:]}", file=sys.stderr)
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=[10, 60, 120])
    parser.add_argument("--ratio-minutes", type=int, default=30)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose edge/ is measured")
    parser.add_argument("--skip-librosa", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    vigil = [sys.executable, "-m", "edge.cli"]
    rows, ratio = [], {}
    with tempfile.TemporaryDirectory(prefix="vigil-long-") as tmp:
        folder = Path(tmp)
        for minutes in args.minutes:
            wav = make_wav(folder / f"{minutes}min.wav", minutes * 60)
            commands = {
                "features": [*vigil, "features", str(wav), "--set", "seed", "--out", str(folder / "f.npy"), "--force"],
                "score": [*vigil, "score", "--bundle", str(BUNDLE), str(wav)],
                "bench": [*vigil, "bench", "--bundle", str(BUNDLE), str(wav)],
            }
            if args.root != ROOT:  # an older checkout may not have --force
                commands["features"] = commands["features"][:-1]
            for name, argv in commands.items():
                (folder / "f.npy").unlink(missing_ok=True)
                rows.append({"minutes": minutes, "command": name, **measure(argv, args.root)})
                if not args.json:
                    r = rows[-1]
                    print(f"{minutes:5d} min  {name:9s} peak RSS {r['peak_rss_mb']:8.1f} MB  wall {r['wall_s']:7.2f} s"
                          f"  cpu {r['cpu_s']:7.2f} s{'' if r['exit'] == 0 else '  FAILED'}", flush=True)
            wav.unlink()
        if not args.skip_librosa:
            wav = make_wav(folder / "ratio.wav", args.ratio_minutes * 60)
            ours = measure([*vigil, "features", str(wav), "--set", "seed", "--out", str(folder / "v.npy")], args.root)
            ref = measure([sys.executable, "-c", LIBROSA, str(wav), str(folder / "l.npy")], ROOT)
            diff = float(np.max(np.abs(np.load(folder / "v.npy") - np.load(folder / "l.npy"))))
            ratio = {"minutes": args.ratio_minutes, "librosa": ref, "vigil": ours,
                     "wall_ratio": round(ref["wall_s"] / ours["wall_s"], 1),
                     "cpu_ratio": round(ref["cpu_s"] / ours["cpu_s"], 1), "max_abs_diff": diff}
            if not args.json:
                print(f"\n{args.ratio_minutes} min, seed features, whole processes: librosa {ref['wall_s']} s wall, "
                      f"{ref['cpu_s']} s CPU ({ref['peak_rss_mb']} MB); vigil {ours['wall_s']} s wall, "
                      f"{ours['cpu_s']} s CPU ({ours['peak_rss_mb']} MB): {ratio['wall_ratio']}x wall, "
                      f"{ratio['cpu_ratio']}x CPU; max |difference| {diff:.3g}")
    if args.json:
        print(json.dumps({"rows": rows, "ratio": ratio}))


if __name__ == "__main__":
    main()
