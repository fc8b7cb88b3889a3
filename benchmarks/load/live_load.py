"""The service live at real rate on one core: fetal ECG over (simulated) BLE and a microphone.

Usage: .venv/bin/python -m benchmarks.load.live_load [--seconds 60] [--http | --page] [--profile FILE]

Starts its own PulseAudio null sink (the microphone: the slider anomaly clip played in a loop),
a private dbus-daemon with the fake BlueZ (the wearable: adfecgdb r01, 5 channels at 1 kHz, 23
sets per frame at the real frame rate, record r10, never trained on; AcquireNotify offered as real
BlueZ does, --start-notify for D-Bus signals instead), and `vigil run` pinned to
one CPU. Prints the service's CPU percent, peak RSS, and for every event the latency from the
arrival of the last sample of the event (its `end`) to the event's line in the log. --http serves
the live page and /metrics (nobody looking); --page also keeps one page's live feed (SSE) open and
scrapes /metrics every 15 s as Prometheus would; --profile records py-spy's view of the service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from edge.io.edf import read_edf_channel
from firmware_bridge.codec import DeviceInfo, encode_info
from firmware_bridge.protocol import CONTROL_UUID, DATA_UUID, INFO_UUID, SERVICE_UUID
from firmware_bridge.simulator import frames, to_counts
from tests.fake_bluez import BusDaemon, FakeBlueZ, FakeCharacteristic

ROOT = Path(__file__).resolve().parents[2]

LABELS = ("Direct_1", "Abdomen_1", "Abdomen_2", "Abdomen_3", "Abdomen_4")
ADDRESS = "C0:FF:EE:00:00:77"
DATA = ROOT / "edge" / "data"


def start_pulse(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    socket = tmp / "native"
    (tmp / "default.pa").write_text(f"load-module module-native-protocol-unix auth-anonymous=1 socket={socket}\n"
                                    "load-module module-null-sink sink_name=nullsink rate=16000 channels=1\n"
                                    "set-default-source nullsink.monitor\n")
    env = {**os.environ, "PULSE_SERVER": f"unix:{socket}", "HOME": str(tmp), "XDG_RUNTIME_DIR": str(tmp)}
    proc = subprocess.Popen(["pulseaudio", "-n", "-F", str(tmp / "default.pa"), "--daemonize=no",
                             "--exit-idle-time=-1", "--use-pid-file=no"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    while not socket.exists():
        time.sleep(0.05)
    return proc, env


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmHWM"))
    return cpu, int(hwm.split()[1]) / 1024


T0_WALL: list[float] = []  # wall clock at which the wearable took its sample 0


async def wearable(fake: FakeBlueZ, seconds: float) -> None:
    # r10, which the bundled model never saw; its large-amplitude stretches raise events as in `vigil demo`
    edf = ROOT.parent / "shared/data/adfecgdb/r10.edf"
    uv = np.stack([read_edf_channel(edf, label).samples for label in LABELS], axis=1)
    clean = frames(to_counts(uv, 0.1))
    started = asyncio.Event()
    fake.add_peripheral(ADDRESS, "vigil-wearable", SERVICE_UUID, [
        FakeCharacteristic(DATA_UUID, ["notify"]),
        FakeCharacteristic(CONTROL_UUID, ["write"], on_write=lambda _d: started.set()),
        FakeCharacteristic(INFO_UUID, ["read"], value=encode_info(DeviceInfo((1, 0, 0), 1, 1000, 0, 0.1, LABELS)))])
    await asyncio.wait_for(started.wait(), 60)
    t0 = time.monotonic()
    T0_WALL.append(time.time())
    for i, frame in enumerate(clean):
        due = t0 + (i + 1) * 23 / 1000  # a frame leaves once its last sample was taken
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        await fake.notify(ADDRESS, DATA_UUID, frame)
        if time.monotonic() - t0 > seconds:
            break
    await fake.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def page_client(port: int) -> None:
    """One open page: its live feed read as it comes (on the other CPU), /metrics scraped every 15 s."""
    import urllib.request

    time.sleep(1)
    feed = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/live", timeout=30)
    last_scrape = 0.0
    while feed.readline():
        if time.monotonic() - last_scrape > 15:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
            last_scrape = time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--http", action="store_true", help="serve the live page, nobody looking")
    parser.add_argument("--page", action="store_true", help="serve the live page with one page open")
    parser.add_argument("--start-notify", action="store_true",
                        help="the fake BlueZ without AcquireNotify: notifications as D-Bus signals")
    parser.add_argument("--profile", type=Path,
                        help="py-spy profile of the service: flame graph (.svg) or collapsed stacks (.txt)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="vigil-live-"))
    pulse, env = start_pulse(tmp)
    bus = BusDaemon()
    env["DBUS_SYSTEM_BUS_ADDRESS"] = os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
    config = tmp / "live.toml"
    config.write_text(f"""[gateway]\nname = "live"\nstate_dir = "{tmp / 'state'}"\n
[[streams]]\nname = "mic"\nkind = "microphone"\nbundle = "{DATA / 'bundles' / 'slider'}"\ndevice = "pulse"\n
[[streams]]\nname = "wearable"\nkind = "ble-ecg"\nbundle = "{DATA / 'bundles' / 'ecg-donut'}"
address = "{ADDRESS}"\n""")
    port = free_port()
    http = ["--http", f"127.0.0.1:{port}"] if args.http or args.page else []

    def launch() -> subprocess.Popen[bytes]:
        return subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "edge.cli", "run", "--config",
                                str(config), *http], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(tmp / "service.log", "w"))
    import scipy.io.wavfile

    sr, clip = scipy.io.wavfile.read(sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0])
    long_wav = tmp / "mic.wav"  # one continuous recording: the monitor is silent between paplay runs
    scipy.io.wavfile.write(long_wav, sr, np.tile(clip, int(args.seconds // 5) + 4))
    player = subprocess.Popen(["paplay", "--device=nullsink", str(long_wav)], env=env)
    log = tmp / "state" / "events.jsonl"
    latencies: dict[str, list[float]] = {"mic": [], "wearable": []}
    seen = 0

    async def watch() -> None:
        nonlocal seen
        while True:
            await asyncio.sleep(0.01)
            if not log.exists():
                continue
            lines = log.read_text().splitlines()
            for line in lines[seen:]:
                event = json.loads(line)
                if event.get("phase", "closed") != "closed":  # the latency of the event's final record
                    continue
                if event["stream"] == "wearable":  # the device's own clock: sample i was taken at t0 + i / 1000
                    end = T0_WALL[0] + event["end_s"]
                else:  # the microphone: the service's estimate from its first callback
                    end = datetime.fromisoformat(event["end"].replace("Z", "+00:00")).timestamp()
                latencies[event["stream"]].append(time.time() - end)
            seen = len(lines)

    service: subprocess.Popen[bytes] | None = None

    async def run() -> tuple[float, float]:
        nonlocal service
        # the wearable is on the air before the service looks; BlueZ offers AcquireNotify as real BlueZ does
        fake = await FakeBlueZ.start(bus.address, acquire_notify=not args.start_notify)
        service = launch()
        watcher = asyncio.create_task(watch())
        await asyncio.sleep(3)  # models loaded, sources up
        if args.page:
            threading.Thread(target=page_client, args=(port,), daemon=True).start()
        spy = None
        if args.profile:
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(service.pid),
                                    "-d", str(int(args.seconds)), "-r", "50", "-o", str(args.profile), "--nonblocking",
                                    *(["--format", "raw"] if args.profile.suffix == ".txt" else [])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cpu0, _ = proc_stats(service.pid)
        t0 = time.monotonic()
        await wearable(fake, args.seconds)
        if spy is not None:
            spy.wait(30)
        cpu1, rss = proc_stats(service.pid)
        wall = time.monotonic() - t0
        watcher.cancel()
        return (cpu1 - cpu0) / wall * 100, rss

    try:
        cpu_percent, rss = asyncio.run(run())
    finally:
        if service is not None:
            service.terminate()
            service.wait(20)
        player.kill()
        pulse.terminate()
        bus.stop()
    print(f"service log: {tmp / 'service.log'}", file=sys.stderr)
    print(json.dumps({"seconds": args.seconds, "cpu_percent_one_core": round(cpu_percent, 1),
                      "peak_rss_mb": round(rss, 1),
                      "events": {k: len(v) for k, v in latencies.items()},
                      "latency_s_median": {k: round(float(np.median(v)), 3) for k, v in latencies.items() if v},
                      "latency_s_max": {k: round(float(np.max(v)), 3) for k, v in latencies.items() if v}}, indent=1))


if __name__ == "__main__":
    main()
