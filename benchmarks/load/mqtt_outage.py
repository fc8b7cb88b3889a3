"""Events keep coming while the MQTT broker is down for 60 s: every one arrives, none twice after de-duplication.

Usage: .venv/bin/python -m benchmarks.load.mqtt_outage [--outage-s 60] [--rate 20]

Starts mosquitto, a subscriber and an MqttSink; emits `rate` events/s for 20 s, stops the broker
for `outage-s` seconds while emitting, restarts it, emits 20 s more, and waits for the outbox to
drain. Prints events emitted, unique events received, duplicates received, the outbox's peak.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from edge.sinks.mqtt import MqttSettings, MqttSink
from tests.mosquitto import Broker
from tests.test_mqtt import Subscriber, record, wait_for

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage-s", type=float, default=60)
    parser.add_argument("--rate", type=float, default=20)
    args = parser.parse_args()
    broker = Broker().start()
    sub = Subscriber(broker.port)
    sink = MqttSink(MqttSettings(host="127.0.0.1", port=broker.port, gateway="gw1", keepalive_s=5),
                    Path(tempfile.mkdtemp()))
    emitted, peak, i = [], 0, 0

    def emit_for(seconds: float) -> None:
        nonlocal peak, i
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r = record(i)
            sink.emit(r)
            emitted.append(r.event_id)
            i += 1
            sink.pump()
            peak = max(peak, len(sink.outbox))
            time.sleep(1 / args.rate)

    emit_for(20)
    broker.stop()
    emit_for(args.outage_s)
    broker.start()
    wait_for(sub.subscribed.is_set, 30)
    emit_for(20)
    drained = wait_for(lambda: len(sink.outbox) == 0, 120, sink.pump)
    wait_for(lambda: set(emitted) <= sub.events(), 30)
    received = [m["event_id"] for t, m, _ in sub.messages if t.endswith("/events")]
    sink.close()
    sub.close()
    broker.stop()
    print(json.dumps({"emitted": len(emitted), "outage_s": args.outage_s, "outbox_peak": peak, "drained": drained,
                      "received_unique": len(set(received) & set(emitted)),
                      "missing": len(set(emitted) - set(received)),
                      "duplicates_received": len(received) - len(set(received))}, indent=1))


if __name__ == "__main__":
    main()
