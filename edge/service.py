"""`vigil run`: one asyncio process keeping every configured stream scored, publishing its events.

systemd (Type=notify): READY=1 once bundles are loaded and sources started; STATUS= lines; WATCHDOG=1
only while every stream makes progress (a stalled stream stops the feeding and systemd restarts
the service); STOPPING=1 on SIGTERM, then open events are closed and the outbox flushed; SIGHUP
reloads the config and bundles atomically (a bad new config is refused, the old one keeps running).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.audio_file import AudioFile, rechunk
from edge.bundle import Bundle, load_bundle
from edge.config import ServiceConfig, StreamConfig, load_config
from edge.decider import Decider, Event
from edge.detector import load_detector
from edge.edf_blocks import EdfFile
from edge.errors import ConfigError, VigilError
from edge.events import make_record
from edge.scoring import make_stream
from edge.series import donut_scorer
from edge.sinks import JsonlSink, MqttSink
from edge.sources import Block
from edge.systemd import Notifier

log = logging.getLogger("vigil.service")


@dataclass
class Runner:
    """One configured stream: its bundle, pipeline and progress (for the watchdog)."""

    config: StreamConfig
    bundle: Bundle
    model_sha256: str
    epoch_s: float = field(default_factory=time.time)  # wall clock of the stream's sample 0
    progress_s: float = field(default_factory=time.monotonic)
    windows: int = 0
    events: int = 0
    task: asyncio.Task[None] | None = None
    closer: Any = None


async def _paced_blocks(read: Callable[[], Iterator[np.ndarray]], rate: float, *, realtime: bool,
                        loop: bool) -> AsyncIterator[tuple[int, np.ndarray]]:
    """File replay from a block reader (the file is never held whole): (absolute stream index,
    samples) of each block, released when the wall clock reaches the block's end (realtime) or at
    once; a looped recording is read again and continues the stream."""
    absolute, t0 = 0, time.monotonic()
    while True:
        for samples in read():
            delay = t0 + (absolute + samples.shape[0]) / rate - time.monotonic() if realtime else 0.0
            await asyncio.sleep(max(0.0, delay))  # also yields to the other streams when not paced
            yield absolute, samples
            absolute += samples.shape[0]
        if not loop:
            return


def _decider(bundle: Bundle, threshold: float) -> Decider:
    cfg = bundle.manifest.get("decider", {})
    return Decider(threshold, on_windows=int(cfg.get("on_windows", 3)), off_windows=int(cfg.get("off_windows", 3)))


def prepare(config: StreamConfig) -> Runner:
    """Load and verify a stream's bundle (raises a VigilError naming what is wrong)."""
    bundle = load_bundle(config.bundle)
    entry = bundle.manifest["models"][bundle.variant(config.variant).name]
    if "files" in entry:  # several models (Donut's encoder and decoder): one hash of their hashes
        sha = hashlib.sha256("".join(f["sha256"] for _, f in sorted(entry["files"].items())).encode()).hexdigest()
    else:
        sha = entry["sha256"]
    if config.kind == "file" and (config.path is None or not config.path.is_file()):
        raise ConfigError(f"stream {config.name}: path {config.path} is not a file")
    if config.kind == "ble-ecg" and bundle.modality != "ecg":
        raise ConfigError(f"stream {config.name}: a ble-ecg stream needs an ECG bundle, {config.bundle} is "
                          f"{bundle.modality}")
    if config.kind == "microphone" and bundle.modality != "audio":
        raise ConfigError(f"stream {config.name}: a microphone stream needs an audio bundle")
    return Runner(config, bundle, sha)


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.notifier = Notifier()
        self.runners: dict[str, Runner] = {}
        self.sinks: list[Any] = []
        self.mqtt: MqttSink | None = None
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.total_events = 0

    # --- events -------------------------------------------------------------------------
    def _emit(self, runner: Runner, events: list[Event]) -> None:
        for event in events:
            record = make_record(event, gateway=self.config.gateway, stream=runner.config.name,
                                 detector=runner.bundle.detector_kind, model_sha256=runner.model_sha256,
                                 stream_epoch_s=runner.epoch_s)
            for sink in self.sinks:
                sink.emit(record)
            runner.events += 1
            self.total_events += 1
            log.info("event %s on %s: %.1f-%.1f s, peak %.3g", record.event_id, runner.config.name,
                     event.start_s, event.end_s, event.peak_score)

    def _progress(self, runner: Runner, windows: int) -> None:
        if windows:
            runner.windows += windows
            runner.progress_s = time.monotonic()

    # --- streams --------------------------------------------------------------------------
    async def _audio_file(self, runner: Runner) -> None:
        cfg, bundle = runner.config, runner.bundle
        detector = load_detector(bundle, cfg.variant)
        assert cfg.path is not None
        path, block, sr, channel = cfg.path, bundle.spec.sr // 4, bundle.spec.sr, cfg.channel

        def read() -> Iterator[np.ndarray]:
            with AudioFile(path, sr_out=sr, channel=channel) as audio:
                yield from rechunk(audio.blocks(), block)

        stream = make_stream(bundle, detector)
        async for absolute, samples in _paced_blocks(read, sr, realtime=cfg.realtime, loop=cfg.loop):
            out = stream.push(Block(absolute, samples[:, None]))
            self._progress(runner, out.scores.size)
            self._emit(runner, out.events)
        self._emit(runner, stream.finish())

    async def _microphone(self, runner: Runner) -> None:
        from edge.microphone import Microphone

        detector = load_detector(runner.bundle, runner.config.variant)
        stream = make_stream(runner.bundle, detector)
        mic = Microphone(stream, device=runner.config.device, channel=runner.config.channel)
        runner.closer = mic.stop
        runner.epoch_s = time.time()
        mic.start()
        while True:
            await asyncio.sleep(0.05)
            if mic.epoch_s is not None:
                runner.epoch_s = mic.epoch_s  # event times from the first sample's arrival
            out = stream.process()
            self._progress(runner, out.scores.size)
            self._emit(runner, out.events)

    async def _ecg_file(self, runner: Runner) -> None:
        from edge.ecg_stream import EcgStream

        cfg, bundle = runner.config, runner.bundle
        spec = bundle.ecg_spec
        assert cfg.path is not None
        path = cfg.path
        with EdfFile(path) as edf:
            fs = edf.fs(spec.channel)
        if fs != spec.fs:
            raise ConfigError(f"{cfg.path}: {fs:g} Hz, the bundle expects {spec.fs:g} Hz")
        threshold = bundle.variant(cfg.variant).window_threshold
        stream = EcgStream(bundle, donut_scorer(bundle, cfg.variant), _decider(bundle, threshold))
        block = int(spec.fs // 10)

        def read() -> Iterator[np.ndarray]:
            with EdfFile(path) as edf:
                yield from rechunk(edf.blocks(spec.channel), block)

        async for absolute, samples in _paced_blocks(read, spec.fs, realtime=cfg.realtime, loop=cfg.loop):
            out = stream.push(absolute, samples)
            self._progress(runner, out.scores.size)
            self._emit(runner, out.events)
        self._emit(runner, stream.finish())

    async def _ble_ecg(self, runner: Runner) -> None:
        from edge.ble import BleEcgSource
        from edge.ecg_stream import EcgStream

        cfg, bundle = runner.config, runner.bundle
        spec = bundle.ecg_spec
        source = BleEcgSource(address=cfg.address, names=cfg.names, allowlist=cfg.allowlist)
        runner.closer = source.stop
        stream = EcgStream(bundle, donut_scorer(bundle, cfg.variant),
                           _decider(bundle, bundle.variant(cfg.variant).window_threshold))
        link = asyncio.create_task(source.run())
        first = True
        try:
            async for block in source.blocks():
                assert source.info is not None
                if first:  # wall clock of the device's sample 0, from the first block's arrival
                    runner.epoch_s = time.time() - (block.start + block.samples.shape[0]) / spec.fs
                    first = False
                if source.info.labels.count(spec.channel) != 1 or source.info.sample_rate != spec.fs:
                    raise ConfigError(f"stream {cfg.name}: device offers {source.info.labels} at "
                                      f"{source.info.sample_rate} Hz; the bundle needs {spec.channel} "
                                      f"at {spec.fs:g} Hz")
                column = block.samples[:, source.info.labels.index(spec.channel)].astype(np.float64)
                out = stream.push(block.start, column, block.missing)
                self._progress(runner, out.scores.size)
                self._emit(runner, out.events)
        finally:
            source.stop()
            await link

    async def _run_stream(self, runner: Runner) -> None:
        kinds = {("file", "audio"): self._audio_file, ("microphone", "audio"): self._microphone,
                 ("file", "ecg"): self._ecg_file, ("ble-ecg", "ecg"): self._ble_ecg}
        handler = kinds.get((runner.config.kind, runner.bundle.modality))
        if handler is None:
            raise ConfigError(f"stream {runner.config.name}: kind {runner.config.kind} cannot feed a "
                              f"{runner.bundle.modality} bundle")
        try:
            await handler(runner)
        except asyncio.CancelledError:
            raise
        except VigilError as exc:
            log.error("stream %s stopped: %s", runner.config.name, exc)
        except Exception:
            log.exception("stream %s failed", runner.config.name)

    # --- lifecycle ------------------------------------------------------------------------
    def _start_streams(self, runners: dict[str, Runner]) -> None:
        for runner in runners.values():
            runner.progress_s, runner.epoch_s = time.monotonic(), time.time()
            runner.task = asyncio.create_task(self._run_stream(runner), name=runner.config.name)
        self.runners = runners

    async def _stop_streams(self) -> None:
        for runner in self.runners.values():
            if runner.closer is not None:
                with contextlib.suppress(Exception):
                    runner.closer()
            if runner.task is not None:
                runner.task.cancel()
        for runner in self.runners.values():
            if runner.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await runner.task

    def _open_sinks(self) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.sinks = [JsonlSink(self.config.jsonl, max_bytes=self.config.jsonl_max_bytes,
                                backups=self.config.jsonl_backups)]
        if self.config.mqtt is not None:
            self.mqtt = MqttSink(self.config.mqtt, self.config.state_dir)
            self.sinks.append(self.mqtt)

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.sinks, self.mqtt = [], None

    def stalled(self) -> list[str]:
        now = time.monotonic()
        return [n for n, r in self.runners.items() if now - r.progress_s > r.config.stall_s
                and not (r.task is not None and r.task.done() and not r.config.loop and r.config.kind == "file")]

    def status_line(self) -> str:
        outbox = f", outbox {len(self.mqtt.outbox)}" if self.mqtt is not None else ""
        streams = ", ".join(f"{n} {r.windows} windows {r.events} events" for n, r in self.runners.items())
        stalled = self.stalled()
        flag = f"; STALLED: {', '.join(stalled)}" if stalled else ""
        return f"{len(self.runners)} streams ({streams}){outbox}{flag}"

    async def _reload_config(self) -> None:
        source = self.config.source
        if source is None:
            log.warning("SIGHUP: running the embedded default, nothing to reload")
            return
        self.notifier.reloading()
        try:
            new = load_config(source)
            runners = {s.name: prepare(s) for s in new.streams}
        except VigilError as exc:
            log.error("SIGHUP: new config refused, the old one keeps running: %s", exc)
            self.notifier.status(f"reload refused: {exc}")
            self.notifier.send("READY=1")
            return
        await self._stop_streams()
        self._close_sinks()
        self.config = new
        self._open_sinks()
        self._start_streams(runners)
        log.info("SIGHUP: reloaded %s (%d streams)", source, len(runners))
        self.notifier.send("READY=1", f"STATUS=reloaded: {self.status_line()}")

    async def run(self) -> int:
        runners = {s.name: prepare(s) for s in self.config.streams}  # every bundle verified before READY
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        self._open_sinks()
        self._start_streams(runners)
        self.notifier.ready(self.status_line())
        log.info("vigil running: %s", self.status_line())
        watchdog = self.notifier.watchdog_s
        tick = min(0.1, watchdog / 4) if watchdog else 0.1
        last_status = last_dog = 0.0
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)
            if self._reload.is_set():
                self._reload.clear()
                await self._reload_config()
            if self.mqtt is not None:
                self.mqtt.pump()
            now = time.monotonic()
            if watchdog and now - last_dog >= watchdog / 2 and not self.stalled():
                self.notifier.watchdog()
                last_dog = now
            if now - last_status >= self.config.status_interval_s:
                self.notifier.status(self.status_line())
                last_status = now
        self.notifier.stopping()
        log.info("stopping: closing open events and flushing sinks")
        await self._stop_streams()
        self._close_sinks()
        return 0


def embedded_default(state_dir: Path | None = None) -> ServiceConfig:
    """The bundled recordings replayed in real time, looped: the service can be tried anywhere."""
    from edge.config import parse_config

    data = Path(__file__).parent / "data"
    streams = [{"name": f"{m}-replay", "kind": "file", "bundle": str(data / "bundles" / m), "loop": True,
                "path": str(sorted((data / "samples" / m).glob("anomaly_*.wav"))[0])} for m in ("fan", "slider")]
    streams.append({"name": "fetal-ecg-replay", "kind": "file", "bundle": str(data / "bundles" / "ecg-donut"),
                    "path": str(data / "samples" / "ecg" / "r10_60s.edf"), "loop": True})
    gateway: dict[str, Any] = {"name": "demo-gateway", "status_interval_s": 5.0}
    if state_dir is not None:
        gateway["state_dir"] = str(state_dir)
    return parse_config({"gateway": gateway, "streams": streams}, Path.cwd())
