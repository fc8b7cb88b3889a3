"""Prometheus metrics (the official prometheus_client), read from the streams' state at scrape time.

A custom collector reads the per-stream counters when /metrics is scraped, so metrics cost nothing
between scrapes (no instrumented hot path). Names follow the client's conventions: ``vigil_``
prefix, unit in the name, ``_total`` for counters, ``_info`` gauges of 1 carrying labels; a ``stream``
label per stream. The process' own series keep the client's unprefixed names.

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
    vigil_stream_last_event_timestamp_seconds{stream}        wall clock (Unix s) of the last event closed
    vigil_stream_bundle_info{stream,bundle,sha256,detector}  1: the bundle and model file a stream scores with
    vigil_outbox_events                    events waiting for the broker
    vigil_mqtt_connected                   1 while connected to the broker
    vigil_sink_events_delivered_total{sink}  events a sink wrote (log) or the broker acked (MQTT)
    vigil_sink_events_dropped_total{sink}    events a sink lost: beyond its memory cap while its disk was full
    vigil_sink_events_pending{sink}        events waiting to be delivered (outbox, or memory while the disk is full)
    vigil_build_info{version,python,runtime}                 1: the gateway's version, Python, TFLite runtime
    process_cpu_seconds_total, process_resident_memory_bytes, ... (the client's ProcessCollector, as stock
    dashboards expect them)
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge import __version__
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
        last = GaugeMetricFamily("vigil_stream_last_event_timestamp_seconds",
                                 "Wall clock (Unix seconds) when the stream's last event was emitted",
                                 labels=["stream"])
        for s in states:
            if s.last_event_s is not None:  # no sample before the first event: absent, not 0 (1970)
                last.add_metric([s.name], s.last_event_s)
        yield last
        info = GaugeMetricFamily("vigil_stream_bundle_info", "The bundle a stream scores with (1)",
                                 labels=["stream", "bundle", "sha256", "detector"])
        for s in states:
            info.add_metric([s.name, s.bundle, s.model_sha256, s.detector], 1.0)
        yield info
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


class BuildInfo(Collector):
    """``vigil_build_info{version,python,runtime} 1``: what runs, read once (it does not change in a process)."""

    def __init__(self) -> None:
        self.labels = [__version__, platform.python_version(), tflite_runtime()]

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("vigil_build_info", "The gateway's version, Python and TFLite runtime (1)",
                                 labels=["version", "python", "runtime"])
        info.add_metric(self.labels, 1.0)
        yield info


def tflite_runtime() -> str:
    """The TFLite interpreter the detectors load, as ``package version`` (``none`` without one)."""
    from edge.detectors.interpreter import interpreter_class
    from edge.errors import MissingExtraError

    try:
        _, backend = interpreter_class()
    except MissingExtraError:
        return "none"
    try:
        return f"{backend} {metadata.version(backend)}"
    except metadata.PackageNotFoundError:  # a source build without distribution metadata
        return backend


class Metrics:
    """A private registry (not the client's global one): vigil's collectors and the process' own, the
    latter unprefixed (``process_*``) as Prometheus' conventions and stock dashboards have it."""

    def __init__(self, states: Callable[[], Iterable[StreamState]], outbox: Callable[[], int | None],
                 connected: Callable[[], bool | None], sinks: SinkHealth = lambda: ()) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(VigilCollector(states, outbox, connected, sinks))
        self.registry.register(BuildInfo())
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
