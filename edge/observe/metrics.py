"""Prometheus metrics (the official prometheus_client), read from the streams' state at scrape time.

A custom collector reads the per-stream counters when /metrics is scraped, so metrics cost nothing
between scrapes (no instrumented hot path). Names follow the client's conventions: ``vigil_``
prefix, unit in the name, ``_total`` for counters; one ``stream`` label.

    vigil_windows_total{stream}            windows scored
    vigil_events_total{stream}             anomaly events closed
    vigil_samples_total{stream}            samples received (missing included)
    vigil_missing_samples_total{stream}    samples lost on the way (BLE gaps, audio overflows)
    vigil_reconnects_total{stream}         BLE reconnects
    vigil_score{stream}                    last window score (the detector's unit: unitless)
    vigil_threshold{stream}                the decision threshold, same unit
    vigil_anomaly{stream}                  1 while an event is open
    vigil_stream_up{stream}                1 running, 0 starting/dead/done
    vigil_stream_state{stream,state}       1 for the stream's state (starting, running, waiting, ...), 0 for the others
    vigil_fhr_beats_per_minute{stream}     last fetal heart rate (ECG streams with beats)
    vigil_outbox_events                    events waiting for the broker
    vigil_mqtt_connected                   1 while connected to the broker
    vigil_sink_events_delivered_total{sink}  events a sink wrote (log) or the broker acked (MQTT)
    vigil_sink_events_dropped_total{sink}    events a sink lost: beyond its memory cap while its disk was full
    vigil_sink_events_pending{sink}        events waiting to be delivered (outbox, or memory while the disk is full)
    vigil_process_cpu_seconds_total, vigil_process_resident_memory_bytes, ... (ProcessCollector)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge.pipeline.stream_state import STATES, StreamState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


SinkHealth = Callable[[], Iterable[tuple[str, dict[str, object]]]]  # (sink name, Sink.health()) per sink


class VigilCollector(Collector):
    def __init__(self, states: Callable[[], Iterable[StreamState]], outbox: Callable[[], int | None],
                 connected: Callable[[], bool | None], sinks: SinkHealth = lambda: ()) -> None:
        self._states, self._outbox, self._connected, self._sinks = states, outbox, connected, sinks

    def collect(self) -> Iterator[Metric]:
        states = list(self._states())
        counters = (("windows", "Windows scored", "windows"), ("events", "Anomaly events closed", "events"),
                    ("samples", "Samples received, missing included", "samples"),
                    ("missing_samples", "Samples lost before scoring (BLE gaps, audio overflows)", "missing_samples"),
                    ("reconnects", "BLE reconnects", "reconnects"))
        for name, text, attr in counters:
            family = CounterMetricFamily(f"vigil_{name}", text, labels=["stream"])
            for s in states:
                family.add_metric([s.name], getattr(s, attr))
            yield family
        gauges = (("score", "Last window score (detector units)", lambda s: s.last_score),
                  ("threshold", "Decision threshold (detector units)", lambda s: s.threshold),
                  ("anomaly", "1 while an anomaly event is open", lambda s: float(s.anomaly)),
                  ("stream_up", "1 while the stream runs", lambda s: float(s.state == "running")))
        for name, text, get in gauges:
            gauge = GaugeMetricFamily(f"vigil_{name}", text, labels=["stream"])
            for s in states:
                gauge.add_metric([s.name], get(s))
            yield gauge
        # one series per state, as Prometheus writes an enum: a waiting device shows as state="waiting" 1
        current = GaugeMetricFamily("vigil_stream_state", "1 for the stream's current state",
                                    labels=["stream", "state"])
        for s in states:
            for name in STATES:
                current.add_metric([s.name, name], float(s.state == name))
        yield current
        fhr = GaugeMetricFamily("vigil_fhr_beats_per_minute", "Last fetal heart rate", labels=["stream"])
        for s in states:
            if s.fhr.rows:
                fhr.add_metric([s.name], s.fhr.rows[-1][1])
        yield fhr
        outbox, connected = self._outbox(), self._connected()
        if outbox is not None:
            yield GaugeMetricFamily("vigil_outbox_events", "Events waiting in the outbox for the broker",
                                    value=outbox)
        if connected is not None:
            yield GaugeMetricFamily("vigil_mqtt_connected", "1 while connected to the MQTT broker",
                                    value=float(connected))
        yield from self._sink_counts()

    def _sink_counts(self) -> Iterator[Metric]:
        sinks = [(name, h) for name, h in self._sinks() if "delivered" in h]  # the sinks that count
        delivered = CounterMetricFamily("vigil_sink_events_delivered", "Events a sink wrote or its broker acked",
                                        labels=["sink"])
        dropped = CounterMetricFamily("vigil_sink_events_dropped", "Events a sink lost (beyond its memory cap "
                                      "while its disk refused them)", labels=["sink"])
        pending = GaugeMetricFamily("vigil_sink_events_pending", "Events waiting to be delivered by a sink",
                                    labels=["sink"])
        families: tuple[CounterMetricFamily | GaugeMetricFamily, ...] = (delivered, dropped, pending)
        for family, key in zip(families, ("delivered", "dropped", "pending"), strict=True):
            for name, health in sinks:
                value = health.get(key, 0)
                family.add_metric([name], float(value) if isinstance(value, int | float) else 0.0)
            yield family


class Metrics:
    """A private registry (not the client's global one): vigil's collector and the process' own."""

    def __init__(self, states: Callable[[], Iterable[StreamState]], outbox: Callable[[], int | None],
                 connected: Callable[[], bool | None], sinks: SinkHealth = lambda: ()) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(VigilCollector(states, outbox, connected, sinks))
        ProcessCollector(namespace="vigil", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
