"""`vigil run`: one asyncio process keeping every configured stream scored, publishing its events.

Every stream is the same pipeline whatever its kind: Source -> Stream (ring, framing, Detector,
Decider) -> sinks; the kinds differ only in their Source (``edge.sources.base``). systemd (Type=notify):
READY=1 once every stream is known to be able to work (bundles loaded and verified, models loaded,
recordings readable by their bundles; a stream that cannot is refused before, in one line naming
the config file, the key and the value) and sources started; STATUS= lines; SIGHUP reloads the
config and bundles atomically (a bad new config is refused, the old one keeps running; open events
of the old streams are closed); STOPPING=1 on SIGTERM/SIGINT, or once every stream has ended (file
replays without ``loop``: exit 0), then every open event is closed with its true end and reaches
every sink, and the outbox is flushed.

The watchdog guards the process, not the presence of devices: WATCHDOG=1 goes out from the loop
(so a blocked loop stops it) while every sink can still take events and no stream's code is stuck
or crashed. A stream waiting for its device (absent, out of range, unplugged: the source retries
with backoff and the stream shows ``waiting`` with why) keeps the watchdog fed, since a restart
would not bring the device and would only loop; a stream ``running`` without progress for its
``stall_s``, or ended by an unexpected exception, stops it, since a fresh process may recover.
A stream failed by a stated reason (a device breaking its contract) is shown failed and left so.
One daemon per state directory: `run` holds its lock (``edge.service.state_lock``) from before anything is
said to its exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, VigilError
from edge.learn.learner import learn_push
from edge.observe.health import NO_STREAMS
from edge.pipeline.assembly import start_series
from edge.pipeline.decider import Event
from edge.pipeline.stream import Stage
from edge.pipeline.stream_state import StreamState
from edge.service.config import ServiceConfig, check_state_dir, load_config
from edge.service.runner import Runner, prepare_all
from edge.service.state_lock import StateDirLock
from edge.service.systemd import Notifier
from edge.sinks.base import BrokerLink, Sink, SinkConfig, broker_link, open_sink
from edge.sinks.events import make_record

log = logging.getLogger("vigil.service")


class Service:
    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.notifier = Notifier()
        self.runners: dict[str, Runner] = {}
        self.sinks: list[Sink] = []
        self._sink_configs: list[SinkConfig] = []  # what each of self.sinks was opened from
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.total_events = 0
        self.lock = StateDirLock(config.state_dir)  # taken in run(): one daemon per state directory
        from edge.observe.observers import Observers  # status lines and file, live page, /metrics, Home Assistant

        self.observers = Observers(config, self.states, self.broker_sink, self.sink_health)

    # --- events -------------------------------------------------------------------------
    def _emit(self, runner: Runner, events: list[Event], stage: Stage | None = None) -> None:
        """Each Event (opened, update or closed) as one record into every sink; the records of one event share
        the event_id its first record got."""
        if not events:  # most blocks (43 a second from the wearable): not even the model's hash to work out
            return
        state = runner.state
        detector = state.detector if stage is None else stage.detector
        sha = runner.bundle.variant(state.variant).sha256 if stage is None else stage.model_sha256
        for event in events:
            named = event.detector or detector
            key = (named, event.start_s)  # one open event per decider, and each decider names its own detector
            event_id = runner.open_ids.pop(key, None) if event.phase == "closed" else runner.open_ids.get(key)
            record = make_record(event, gateway=self.config.gateway, stream=state.name, detector=named,
                                 model_sha256=sha, stream_epoch_s=state.epoch_s or time.time(), event_id=event_id)
            if event.phase != "closed":
                runner.open_ids[key] = record.event_id
            for sink in self.sinks:
                try:
                    sink.emit(record)
                except Exception as exc:  # a sink's failure (a full disk) must stop neither the stream nor the others
                    log.error("event %s not taken by the %s sink: %s: %s", record.event_id, sink.name,
                              type(exc).__name__, exc)
            state.evented(record)
            if event.phase == "closed":
                self.total_events += 1
            log.info("event %s %s on %s: %.1f-%.1f s, peak %.3g", record.event_id, event.phase, state.name,
                     event.start_s, event.end_s, event.peak_score)

    # --- streams --------------------------------------------------------------------------
    async def _run_stream(self, runner: Runner) -> None:
        """Source blocks through the stream into the sinks; whatever ends the stream (its source
        ending or failing, shutdown, reload), its open event is closed and emitted."""
        source, stream, state = runner.source, runner.stream, runner.state
        rate = stream.framing.rate
        try:
            await source.start()
            start_series(stream, runner.bundle, source.first_timestamp())  # a KPI bundle's warm-up, as `score`
            state.set("running")
            async for block in source.blocks():
                if state.epoch_s is None:  # wall clock of sample 0, from the first block's arrival
                    state.epoch_s = time.time() - (block.start + block.samples.shape[0]) / rate
                    for stage in runner.stages:  # a device names its channels once connected: now
                        stage.open(source.channels())
                state.envelope(block.start, block.samples, rate, stream.column)  # only while a page looks
                for part in stream.contiguous(block):  # holes filled once: the stages see what the stream sees
                    out = stream.push(part)
                    state.anomaly = stream.decider.open
                    state.scored(out.starts / rate, out.scores)
                    state.stream_seconds, state.samples = stream.seconds, stream.ring.end - stream.origin
                    state.missing_samples = stream.missing_samples
                    self._emit(runner, out.events)
                    if runner.learner is not None and (learned := await learn_push(
                            runner.learner, stream, state, out.rows, out.starts / rate, runner.config.variant)):
                        runner.bundle, runner.learner = learned, None
                    for stage in runner.stages:
                        staged = stage.push(part)
                        self._emit(runner, staged.events, stage)
                        if staged.fhr is not None:  # the fetal stage's heart rate: the page's FHR panel, metrics
                            state.on_fhr(*staged.fhr)
                        if staged.ctg is not None:
                            state.ctg = staged.ctg
            if source.failure is not None:
                state.set("failed", source.failure)
            else:
                state.set("ended", "end of input")
                log.info("stream %s: end of input", state.name)
        except asyncio.CancelledError:
            state.set("stopped")
            raise
        except VigilError as exc:
            state.set("failed", str(exc))
            log.error("stream %s failed: %s", state.name, exc)
        except Exception as exc:
            runner.crashed = True
            state.set("failed", f"{type(exc).__name__}: {exc}")
            log.exception("stream %s failed", state.name)
        finally:
            if runner.learner is not None:  # a restart resumes from every window heard
                with contextlib.suppress(Exception):
                    runner.learner.store.flush()
            self._emit(runner, stream.finish())
            for stage in runner.stages:
                self._emit(runner, stage.finish(), stage)
            state.anomaly = False
            state.source_health = source.health()
            with contextlib.suppress(Exception):
                await source.stop()

    def _start_streams(self, runners: dict[str, Runner]) -> None:
        for runner in runners.values():
            runner.state.progress_s = time.monotonic()
            runner.task = asyncio.create_task(self._run_stream(runner), name=runner.config.name)
        self.runners = runners

    async def _stop_streams(self) -> None:
        for runner in self.runners.values():
            if runner.task is not None:
                runner.task.cancel()
        for runner in self.runners.values():
            if runner.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await runner.task

    def _open_sinks(self, kept: dict[SinkConfig, Sink] | None = None) -> None:
        """Open the configured sinks; `kept`: sinks of a reload's old config that stay open as they are."""
        try:
            self.config.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"state directory {self.config.state_dir}: {exc.strerror}") from None
        kept = dict(kept or {})
        self.sinks, self._sink_configs = [], []
        try:
            for config in self.config.sinks:
                sink = kept.pop(config, None)
                self.sinks.append(sink if sink is not None else open_sink(config, self.config.state_dir))
                self._sink_configs.append(config)
        except VigilError:  # those already open are released, not left with their files and threads
            self._close_sinks()
            raise
        self.observers.attach_broker(self.broker_sink())

    def _retry_sinks(self) -> None:
        """Events a sink holds in memory while its disk is full are written when room returns, events or not."""
        for sink in self.sinks:
            try:
                sink.retry()
            except Exception as exc:  # a sink's failure must stop neither the loop nor the others
                log.error("the %s sink: %s: %s", sink.name, type(exc).__name__, exc)

    def _close_sinks(self, keep: Iterable[SinkConfig] = ()) -> dict[SinkConfig, Sink]:
        """Close the sinks, except those opened from a config in `keep` (returned, by config): a reload keeps
        an unchanged sink open, with the events it holds in memory for a full disk and its broker connection."""
        kept = {}
        for config, sink in zip(self._sink_configs, self.sinks, strict=True):
            if config in keep:
                kept[config] = sink
            else:
                sink.close()
        self.sinks, self._sink_configs = [], []
        return kept

    # --- state ----------------------------------------------------------------------------
    def broker_sink(self) -> BrokerLink | None:
        """The sink connected to a message broker (MQTT), if one is configured."""
        return broker_link(self.sinks)

    def sink_health(self) -> list[tuple[str, dict[str, object]]]:
        """Every sink's name and counters (delivered, dropped, pending), for /metrics."""
        return [(s.name, s.health()) for s in self.sinks]

    def states(self) -> list[StreamState]:
        """Every stream's state (what status lines, `vigil status`, pages and metrics read)."""
        for runner in self.runners.values():
            runner.state.source_health = runner.source.health()
            runner.state.waiting_for(runner.source.waiting())
        return [r.state for r in self.runners.values()]

    def stalled(self) -> list[str]:
        """What stops the watchdog: streams crashed, or running (or starting) without progress for their
        stall_s; sinks that can no longer take events. Waiting and ended streams are not stalled."""
        now = time.monotonic()
        self.states()  # waiting as the sources say now
        streams = [r.state.name for r in self.runners.values() if r.crashed or (
            r.state.state in ("starting", "running") and now - r.state.progress_s > r.config.stall_s)]
        return streams + [f"{s.name} sink" for s in self.sinks if not s.alive()]

    def ended(self) -> bool:
        """Every stream has ended (file replays without loop): the service's work is done."""
        return bool(self.runners) and all(r.state.state == "ended" for r in self.runners.values())

    def status_line(self) -> str:
        healths = self.sink_health()
        sinks = "".join(f", outbox {h['outbox']}" for _, h in healths if "outbox" in h)
        sinks += "".join(f", {name} {h.get('held', 0)} held for the disk, {h.get('dropped', 0)} dropped"
                         for name, h in healths if h.get("held") or h.get("dropped"))  # only while it matters
        streams = ", ".join(f"{s.name} {s.windows} windows {s.events} events"
                            + (f" learning {s.learning['learned_s']:.0f}/{s.learning['total_s']:.0f} s"
                               if s.learning else "")
                            + (f" FAILED ({s.reason})" if s.state == "failed" else "")
                            + (f" waiting ({s.reason})" if s.state == "waiting" else "") for s in self.states())
        stalled = self.stalled()
        flag = f"; STALLED: {', '.join(stalled)}" if stalled else ""
        if not self.runners:
            return f"{NO_STREAMS}; config {self.config.source or 'embedded'}{sinks}"
        return f"{len(self.runners)} streams ({streams}){sinks}{flag}"

    # --- lifecycle ------------------------------------------------------------------------
    async def _reload_config(self) -> None:
        source = self.config.source
        if source is None:
            log.warning("SIGHUP: running the embedded default, nothing to reload")
            return
        self.notifier.reloading()
        lock = self.lock
        try:
            new = load_config(source)
            runners = prepare_all(new, [r.config for r in self.runners.values()])
            if new.state_dir != self.config.state_dir:  # the new directory is locked before the old is let go
                lock = StateDirLock(new.state_dir).acquire()
        except VigilError as exc:
            log.error("SIGHUP: new config refused, the old one keeps running: %s", exc)
            self.notifier.status(f"reload refused: {exc}")
            self.notifier.send("READY=1")
            return
        await self._stop_streams()  # closes the old streams' open events into the old sinks
        kept = self._close_sinks(new.sinks if new.state_dir == self.config.state_dir else ())
        self.config = new
        if lock is not self.lock:
            self.lock.release()
            self.lock = lock
        self.observers.use(new)
        self._open_sinks(kept)
        self._start_streams(runners)
        log.info("SIGHUP: reloaded %s (%d streams)", source, len(runners))
        self.notifier.send("READY=1", f"STATUS=reloaded: {self.status_line()}")

    async def run(self) -> int:
        if not self.lock.held:  # a second daemon on this state directory is refused before anything else
            self.lock.acquire()
        try:
            return await self._run()
        finally:
            self.lock.release()

    async def _run(self) -> int:
        runners = prepare_all(self.config)  # every stream known to be able to work before READY
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        self._open_sinks()
        await self.observers.start()
        self._start_streams(runners)
        gc.freeze()  # what is loaded lives as long as the process: full GC passes stop rescanning it
        self.notifier.ready(self.status_line())
        log.info("vigil running: %s", self.status_line())
        watchdog = self.notifier.watchdog_s
        tick = min(0.5, watchdog / 4) if watchdog else 0.5  # a wake-up costs ~0.1 ms here; SIGTERM is at once
        last_status = last_dog = 0.0
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), tick)
            if self._reload.is_set():
                self._reload.clear()
                await self._reload_config()
            self._retry_sinks()
            self.observers.tick()
            now = time.monotonic()
            if watchdog and now - last_dog >= watchdog / 2 and not self.stalled():
                self.notifier.watchdog()
                last_dog = now
            if now - last_status >= self.config.status_interval_s:
                self.notifier.status(self.status_line())
                last_status = now
            if self.ended():
                log.info("every stream has ended: stopping")
                break
        self.notifier.stopping()
        log.info("stopping: closing open events and flushing sinks")
        await self._stop_streams()
        await self.observers.stop()
        self._close_sinks()
        return 0


def embedded_default(state_dir: Path | None = None) -> ServiceConfig:
    """The bundled recordings replayed in real time, looped: the service can be tried anywhere."""
    from edge.service.config import parse_config

    data = Path(__file__).parent.parent / "data"
    streams = [{"name": f"{m}-replay", "kind": "file", "bundle": str(data / "bundles" / m), "loop": True,
                "path": str(sorted((data / "samples" / m).glob("anomaly_*.wav"))[0])} for m in ("fan", "slider")]
    streams.append({"name": "fetal-ecg-replay", "kind": "file", "bundle": str(data / "bundles" / "ecg-donut"),
                    "path": str(data / "samples" / "ecg" / "r10_60s.edf"), "loop": True})
    gateway: dict[str, Any] = {"name": "demo-gateway", "status_interval_s": 5.0}
    if state_dir is not None:
        gateway["state_dir"] = str(state_dir)
    return parse_config({"gateway": gateway, "streams": streams}, Path.cwd())


def run_command(config_path: Path | None, state_dir: Path | None, http: str | None = None) -> int:
    """`vigil run`: the given config (or the embedded default), its state directory overridden."""
    import sys

    if state_dir is not None:
        check_state_dir(state_dir, "--state-dir")
    config = load_config(config_path) if config_path else embedded_default(state_dir)
    if config_path and state_dir:
        config = replace(config, state_dir=state_dir, sinks=tuple(s.moved(state_dir) for s in config.sinks))
    if http:
        from edge.observe.web.settings import HttpSettings, parse_listen

        config = replace(config, http=HttpSettings(*parse_listen(http, "--http"),
                                                   config.http.token if config.http else None))
    service = Service(config)
    service.lock.acquire()  # refused in one line, before anything is said
    if not config_path:
        print(f"vigil run: no --config, running the embedded default (bundled recordings replayed in real time); "
              f"events in {', '.join(s.where for s in config.sinks)}", file=sys.stderr)
    return asyncio.run(service.run())
