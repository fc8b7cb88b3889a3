"""Fuzz the frame decoder: mutated valid frames and random bytes; count outcomes, crash on nothing.

Usage: .venv/bin/python -m benchmarks.fuzz_decoder [--frames 1000000] [--seed 0]
A crash is any exception that is not a DecodeError. Prints counts by outcome and error kind.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from firmware_bridge.codec import DecodeError, decode, encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    base = [encode(int(rng.integers(2**32)), rng.integers(-3000, 3000, size=(int(rng.integers(0, 24)), 5)), fmt)
            for fmt in (0, 1) for _ in range(64)]
    kinds: dict[str, int] = {}
    crashes = accepted_mutants = unchanged = 0
    t0 = time.process_time()
    for i in range(args.frames):
        frame = bytearray(base[i % len(base)])
        mode = i % 4
        if mode == 0:  # flip 1-3 random bits
            for bit in rng.integers(0, 8 * len(frame), size=int(rng.integers(1, 4))):
                frame[bit // 8] ^= 1 << (bit % 8)
        elif mode == 1:  # truncate or extend
            frame = frame[: int(rng.integers(0, len(frame)))] if rng.random() < 0.5 else frame + rng.bytes(3)
        elif mode == 2:  # random bytes of a plausible length
            frame = bytearray(rng.bytes(int(rng.integers(0, 260))))
        else:  # rewrite one header byte
            frame[int(rng.integers(0, min(8, len(frame))))] = int(rng.integers(0, 256))
        data = bytes(frame)
        try:
            decode(data)
        except DecodeError as exc:
            kinds[exc.kind] = kinds.get(exc.kind, 0) + 1
        except Exception:  # anything else is a crash of the decoder
            crashes += 1
        else:
            if data in base:
                unchanged += 1
            else:
                accepted_mutants += 1
    seconds = time.process_time() - t0
    print(json.dumps({"frames_tried": args.frames, "crashes": crashes, "rejected": sum(kinds.values()),
                      "rejected_by_kind": kinds, "decoded_unchanged": unchanged,
                      "decoded_mutants": accepted_mutants, "frames_per_s": round(args.frames / seconds)}, indent=1))


if __name__ == "__main__":
    main()
