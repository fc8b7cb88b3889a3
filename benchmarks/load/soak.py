"""Accelerated soak: `vigil run` replays bundled recordings as fast as possible for an hour; RSS stays flat and
every event logged reaches MQTT exactly once.

Usage: nice -n 5 .venv/bin/python -m benchmarks.load.soak [--seconds 3600]

Starts mosquitto and a QoS 1 subscriber on vigil/+/+/events, writes a config with three looped `file` streams
(slider anomaly WAV, pump normal WAV, the ECG EDF; `realtime = false`), runs the gateway for `seconds` wall
seconds sampling its VmRSS every 10 s, stops it with SIGTERM and prints: stream seconds replayed (the status
file's samples over the bundle's rate), RSS after a 60 s warm-up and at the end, growth per hour
(least-squares slope of the post-warm-up samples), events in the JSONL log (rotated files included), events
received, missing and duplicates. Exit status 1 if the counts disagree.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.mosquitto import Broker

ROOT = Path(__file__).resolve().parents[2]

DATA = ROOT / "edge" / "data"
STREAMS = [("slider-anomaly", "slider", DATA / "samples" / "slider" / "anomaly_id_00_00000000.wav"),
           ("pump-normal", "pump", DATA / "samples" / "pump" / "normal_id_04_00000004.wav"),
           ("ecg", "ecg-donut", DATA / "samples" / "ecg" / "r10_60s.edf")]


def record_key(record: dict[str, object]) -> str:
    """One record of an event: its id, phase and end (an event has an opened, updates and a closed record)."""
    return f"{record['event_id']}:{record.get('phase', 'closed')}:{record['end_s']}"


class Subscriber:
    """Every record received on vigil/+/+/events (``record_key``), in arrival order (duplicates kept)."""

    def __init__(self, port: int) -> None:
        self.ids: list[str] = []
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-sub")
        self.client.on_connect = lambda c, *_: c.subscribe("vigil/+/+/events", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, _c: object, _u: object, m: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.ids.append(record_key(json.loads(m.payload)))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def slope_per_hour(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) points, in MiB per hour."""
    n = len(points)
    mt, mr = sum(t for t, _ in points) / n, sum(r for _, r in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mt) * (r - mr) for t, r in points) / var * 3600 / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--every", type=float, default=10, help="RSS sampling period (s)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vigil-soak-"))
    broker = Broker().start()
    sub = Subscriber(broker.port)
    sub.subscribed.wait(10)
    config = tmp / "soak.toml"
    text = (f'[gateway]\nname = "soak"\nstate_dir = "{tmp / "state"}"\nstatus_interval_s = 5\n'
            f'[events]\njsonl = "events.jsonl"\nmax_bytes = 1000000\nbackups = 1000\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nkeepalive_s = 10\n')
    for name, bundle, path in STREAMS:
        text += (f'[[streams]]\nname = "{name}"\nkind = "file"\nbundle = "{DATA / "bundles" / bundle}"\n'
                 f'path = "{path}"\nrealtime = false\nloop = true\n')
    config.write_text(text)
    rates = {}  # samples per stream second, from each bundle's manifest (audio `sr`, ECG `fs`)
    for name, bundle, _ in STREAMS:
        features = json.loads((DATA / "bundles" / bundle / "manifest.json").read_text())["features"]
        rates[name] = float(features.get("sr") or features["fs"])
    log = (tmp / "vigil.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    t0, samples, streams = time.monotonic(), [], {}
    while (now := time.monotonic() - t0) < args.seconds and proc.poll() is None:
        if (kib := rss_kib(proc.pid)) is not None:
            samples.append((now, kib))
        try:
            status = json.loads((tmp / "state" / "status.json").read_text())
            streams = {s["name"]: s["samples"] / rates[s["name"]] for s in status["streams"]}
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(min(args.every, max(0.0, args.seconds - now)))
    early = proc.poll()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    wall = time.monotonic() - t0
    logged = [record_key(json.loads(line)) for f in sorted((tmp / "state").glob("events.jsonl*"))
              for line in f.read_text().splitlines() if line.strip()]
    deadline = time.monotonic() + 30  # the last QoS 1 deliveries may still be in flight
    while time.monotonic() < deadline and not set(logged) <= set(sub.ids):
        time.sleep(0.5)
    sub.close()
    broker.stop()
    warm = [p for p in samples if p[0] >= args.warmup] or samples
    received = list(sub.ids)
    report = {
        "wall_s": round(wall, 1), "exit_status": code, "exited_early": early is not None,
        "stream_s_replayed": {k: round(v, 1) for k, v in streams.items()},
        "stream_s_total": round(sum(streams.values()), 1),
        "rss_samples": len(samples),
        "rss_start_mib": round(warm[0][1] / 1024, 1) if warm else None,
        "rss_end_mib": round(warm[-1][1] / 1024, 1) if warm else None,
        "rss_growth_mib_per_h": round(slope_per_hour(warm), 2) if len(warm) > 1 else None,
        "events_logged": len(logged), "events_logged_unique": len(set(logged)),
        "events_received": len(received), "events_received_unique": len(set(received)),
        "missing": len(set(logged) - set(received)), "unexpected": len(set(received) - set(logged)),
        "duplicates": len(received) - len(set(received)),
        "workdir": str(tmp),
    }
    print(json.dumps(report, indent=1))
    if early is not None:
        print(f"gateway exited early; see {tmp / 'vigil.log'}", file=sys.stderr)
    agree = (report["missing"] == report["unexpected"] == report["duplicates"] == 0
             and len(logged) == len(set(logged)))
    return 0 if agree and early is None and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
