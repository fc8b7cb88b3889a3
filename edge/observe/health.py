"""A running gateway says how it is: a status line per stream at an interval, a warning once per
state change (broker unreachable, stream dead), and a status file for `vigil status`.

The status file (``status.json`` in the state directory) is rewritten atomically at every status
interval; `vigil status` reads it and tells a live service from a stale file by its pid and age.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.pipeline.stream_state import StreamState

log = logging.getLogger("vigil.health")
STATUS_FILE = "status.json"
# a config without streams is valid (a fresh install): the status says what to do
NO_STREAMS = "no streams configured (`vigil devices` lists what is present; add [[streams]] to the config, reload)"


def stream_summary(state: StreamState) -> dict[str, Any]:
    """One stream's counters and state, JSON-ready (the status file, the page's health line)."""
    score = state.last_score
    return {"name": state.name, "kind": state.kind, "modality": state.modality, "state": state.state,
            "reason": state.reason or "", "windows": state.windows, "events": state.events,
            "samples": state.samples, "missing_samples": state.missing_samples,
            "missing_percent": round(100 * state.missing_fraction, 2), "reconnects": state.reconnects,
            "threshold": state.threshold, "last_score": None if score != score else round(score, 6),
            "anomaly": state.anomaly, "open_event": state.open_summary(), "reliability": state.reliability,
            "learning": state.learning}


def stream_line(state: StreamState, outbox: int | None, broker: str) -> str:
    """One line: `name: state, N windows, N events, missing P %, outbox N, broker S`."""
    head = f"{state.name}: {state.state}" + (f" ({state.reason})" if state.reason else "")
    if state.learning is not None:  # no events until the period is learned
        head += f", learning {state.learning['learned_s']:.0f} of {state.learning['total_s']:.0f} s"
    outbox_part = f", outbox {outbox}" if outbox is not None else ""
    return (f"{head}, {state.windows} windows, {state.events} events, missing {100 * state.missing_fraction:.1f} %"
            f"{outbox_part}, broker {broker}")


class Health:
    """Watches the streams' states and the broker's; logs lines and changes; writes the status file.

    broker(): the broker state as a short string ("connected", "unreachable: <why>", "off");
    outbox(): events waiting for the broker, or None without MQTT.
    """

    def __init__(self, gateway: str, state_dir: Path, states: Callable[[], Iterable[StreamState]],
                 broker: Callable[[], str], outbox: Callable[[], int | None]) -> None:
        self.gateway, self.state_dir = gateway, state_dir
        self._states, self._broker, self._outbox = states, broker, outbox
        self._seen: dict[str, str] = {}  # what was last said per subject: said again only when it changes

    def check(self) -> list[str]:
        """Warn once per change of a stream's waiting state (a BLE link retrying its device, with why);
        the MQTT sink says its own changes, the service says a failed stream."""
        said = []
        for state in self._states():
            key, now = state.name, f"{state.state}:{state.reason}"
            if state.state == "waiting" and self._seen.get(key) != now:
                said.append(f"stream {state.name} waiting: {state.reason}")
            elif state.state == "running" and self._seen.get(key, "").startswith("waiting"):
                said.append(f"stream {state.name} running again")
            self._seen[key] = now
        for line in said:
            log.warning("%s", line)
        return said

    def lines(self) -> list[str]:
        broker, outbox = self._broker(), self._outbox()
        return [stream_line(s, outbox, broker) for s in self._states()] or [NO_STREAMS]

    def report(self) -> None:
        """The periodic status: one log line per stream, and the status file."""
        for line in self.lines():
            log.info("status %s", line)
        self.write()

    def snapshot(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "time": time.time(), "gateway": self.gateway, "broker": self._broker(),
                "outbox": self._outbox(), "streams": [stream_summary(s) for s in self._states()]}

    def write(self) -> None:
        path = self.state_dir / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.snapshot()))
            os.replace(tmp, path)  # a reader never sees half a file
        except OSError as exc:  # a full disk: the status goes stale, the service runs on
            tmp.unlink(missing_ok=True)
            if self._seen.get(STATUS_FILE) is None:
                log.warning("status file %s: cannot write (%s); `vigil status` shows the last one until it can",
                            path, exc.strerror or exc)
            self._seen[STATUS_FILE] = "failing"
            return
        if self._seen.pop(STATUS_FILE, None) is not None:
            log.warning("status file %s: writing again", path)

    def remove(self) -> None:
        """At a clean stop: the file would describe a service that is gone."""
        (self.state_dir / STATUS_FILE).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process (the service user): it exists
        return True
    return True


def read_status(state_dir: Path) -> dict[str, Any]:
    path = state_dir / STATUS_FILE
    if not state_dir.is_dir():
        raise ConfigError(f"{state_dir}: no such state directory (is the service configured with another?)")
    if not path.is_file():
        raise ConfigError(f"{path}: no status file: the service is not running with this state directory")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable status file ({exc})") from None
    return data


def format_status(data: dict[str, Any], now: float | None = None) -> tuple[str, bool]:
    """The status file as text, and whether the service behind it is alive."""
    age = (time.time() if now is None else now) - float(data["time"])
    alive = _alive(int(data["pid"]))
    head = (f"gateway {data['gateway']}: " + (f"running (pid {data['pid']})" if alive else
            f"NOT running (pid {data['pid']} is gone; last status)") + f", status {age:.0f} s old")
    broker = data.get("broker", "off")
    lines = [head, f"MQTT: {broker}" + (f", outbox {data['outbox']}" if data.get("outbox") is not None else "")]
    if not data["streams"]:
        lines.append(f"  {NO_STREAMS}")
    for s in data["streams"]:
        reason = f" ({s['reason']})" if s.get("reason") else ""
        score = "-" if s.get("last_score") is None else f"{s['last_score']:.4g}"
        lines.append(f"  {s['name']:20s} {s['state']}{reason}: {s['windows']} windows, {s['events']} events, "
                     f"missing {s['missing_percent']:.1f} %, reconnects {s['reconnects']}, "
                     f"score {score} / threshold {s['threshold']:.4g}" + (" ANOMALY" if s.get("anomaly") else ""))
        if s.get("reliability"):
            lines.append(f"  {'':20s} bundle reliability {s['reliability']['estimate']:.2f}: "
                         f"{s['reliability']['advice']}")
    return "\n".join(lines), alive


def status_command(config: Path | None, state_dir: Path | None) -> int:
    """`vigil status`: exit 0 while the service runs, 1 if its last status file is left by a dead one."""
    if state_dir is None:
        if config is not None:
            from edge.service.config import load_config

            state_dir = load_config(config).state_dir
        else:
            from edge.service.daemon import embedded_default

            state_dir = embedded_default().state_dir
    text, alive = format_status(read_status(state_dir))
    print(text)
    return 0 if alive else 1
