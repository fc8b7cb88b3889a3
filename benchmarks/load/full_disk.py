"""`vigil run` with its state directory on a full 1 MB disk and the broker down, then room, then the broker.

Usage (as root: it mounts a tmpfs): .venv/bin/python -m benchmarks.load.full_disk [--full-s 60] [--fast-loop]

The state directory is on a 1 MB tmpfs filled with dd before the service starts; the broker's port has
no broker. Streams: the adfecgdb record r01 replayed once as fast as it goes (its events all come while
the disk is full) and the slider anomaly clip looped at real time; `--fast-loop` loops the 60 s ECG
sample as fast as it goes instead (about 20 events/s: the events themselves fill 1 MB in about 30 s).
After --full-s seconds the fill is removed, then mosquitto starts on the port and a subscriber counts.
Prints: the exit status, events reported by the service, in the log (whole lines, same order), over
MQTT, left in the outbox, and the lines the sinks said about the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from tests.mosquitto import Broker, free_port

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "edge" / "data"


def streams(fast_loop: bool) -> str:
    ecg = ROOT.parent / "shared" / "data" / "adfecgdb" / "r01.edf"
    if fast_loop:
        return (f'[[streams]]\nname = "ecg"\nkind = "file"\nbundle = "{DATA}/bundles/ecg-donut"\n'
                f'path = "{DATA}/samples/ecg/r10_60s.edf"\nrealtime = false\nloop = true\n')
    return (f'[[streams]]\nname = "ecg"\nkind = "file"\nbundle = "{DATA}/bundles/ecg-donut"\npath = "{ecg}"\n'
            f'realtime = false\n\n[[streams]]\nname = "slider"\nkind = "file"\nbundle = "{DATA}/bundles/slider"\n'
            f'path = "{DATA}/samples/slider/anomaly_id_00_00000000.wav"\nloop = true\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-s", type=float, default=60.0)
    parser.add_argument("--fast-loop", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-full-disk-"))
    disk = work / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        state, port = disk / "state", free_port()
        state.mkdir()
        config = work / "gw.toml"
        config.write_text(f'[gateway]\nname = "gw"\nstate_dir = "{state}"\nstatus_interval_s = 5\n\n[mqtt]\n'
                          f'host = "127.0.0.1"\nport = {port}\nkeepalive_s = 2\n\n{streams(args.fast_loop)}')
        subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'fill'}", "bs=4k"], capture_output=True, check=False)
        err_path = work / "stderr.txt"
        with err_path.open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], cwd=ROOT,
                                    stderr=err)
            time.sleep(args.full_s)
            print(f"disk full for {args.full_s:g} s, broker down: service alive {proc.poll() is None}")
            (disk / "fill").unlink()
            time.sleep(3)
            broker = Broker(port).start()
            got: list[str] = []
            sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="full-disk-count")
            sub.on_connect = lambda c, *_: c.subscribe("vigil/gw/+/events", qos=1)
            sub.on_message = lambda _c, _u, m: got.append(json.loads(m.payload)["event_id"])
            sub.connect("127.0.0.1", port)
            sub.loop_start()
            time.sleep(8)
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(30)
            time.sleep(1)
            sub.loop_stop()
            broker.stop()
        text = err_path.read_text()
        reported = re.findall(r"^vigil: event (\w+) \w+ on", text, re.MULTILINE)  # one per record (its phase)
        raw = (state / "events.jsonl").read_bytes().decode()
        logged = [json.loads(line)["event_id"] for line in raw.splitlines()]
        with sqlite3.connect(state / "outbox.sqlite") as db:
            left = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        print(f"exit {status}; events reported {len(reported)}; in the log {len(logged)} (in order: "
              f"{logged == reported}, last line whole: {raw.endswith(chr(10)) or not raw}); over MQTT "
              f"{len(set(got))} distinct of {len(got)} (every reported one: {set(reported) <= set(got)}); "
              f"left in the outbox {left}")
        for line in text.splitlines():
            if any(w in line for w in ("cannot write", "writing again", "could not be written", "Traceback")):
                print("  " + line.replace(str(state), "STATE"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
