"""`vigil run` configuration: one TOML file validated into frozen dataclasses.

Every error names the key (as a path like ``streams[1].kind``), the value found and what was
expected. Relative paths are resolved against the config file's folder; the state directory
defaults to systemd's $STATE_DIRECTORY, else the user's state directory ($XDG_STATE_HOME/vigil,
~/.local/state/vigil).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.sinks import MqttSettings

STREAM_KINDS = ("file", "microphone", "ble-ecg")


@dataclass(frozen=True)
class StreamConfig:
    name: str
    kind: str
    bundle: Path
    variant: str | None = None
    path: Path | None = None  # file: a WAV (audio bundles) or an EDF (ECG bundles)
    realtime: bool = True
    loop: bool = False
    device: str | int | None = None  # microphone: name or index (None: the default input)
    channel: int | None = None
    address: str | None = None  # ble-ecg
    names: tuple[str, ...] = ()
    allowlist: tuple[str, ...] = ()
    stall_s: float = 10.0  # no progress for this long: the watchdog stops being fed


@dataclass(frozen=True)
class ServiceConfig:
    gateway: str
    state_dir: Path
    streams: tuple[StreamConfig, ...]
    jsonl: Path
    jsonl_max_bytes: int = 10_000_000
    jsonl_backups: int = 5
    mqtt: MqttSettings | None = None
    status_interval_s: float = 10.0
    source: Path | None = field(default=None, compare=False)


class _Reader:
    """Typed access to one TOML table, naming the key path in every error."""

    def __init__(self, table: Any, where: str) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table, found {table!r}")
        self.table, self.where, self.used = table, where, set[str]()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, choices: tuple[Any, ...] = ()) -> Any:
        self.used.add(key)
        path = f"{self.where}.{key}" if self.where else key
        if key not in self.table:
            if default is ...:
                raise ConfigError(f"{path}: missing (expected {_describe(kind)})")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ConfigError(f"{path}: {value!r} is not {_describe(kind)}")
        if not isinstance(value, kind):
            raise ConfigError(f"{path}: {value!r} is not {_describe(kind)}")
        if choices and value not in choices:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            where = self.where or "top level"
            raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(self.used))})")


def _describe(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _path(base: Path, value: str) -> Path:
    p = Path(os.path.expandvars(value)).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _stream(table: Any, where: str, base: Path) -> StreamConfig:
    r = _Reader(table, where)
    name = r.get("name", str)
    kind = r.get("kind", str, choices=STREAM_KINDS)
    cfg = StreamConfig(
        name=name, kind=kind, bundle=_path(base, r.get("bundle", str)),
        variant=r.get("variant", str, None, choices=("int8", "float32")),
        path=_path(base, r.get("path", str)) if kind == "file" else None,
        realtime=r.get("realtime", bool, True), loop=r.get("loop", bool, False),
        device=r.get("device", (str, int), None), channel=r.get("channel", int, None),
        address=r.get("address", str, None), names=tuple(r.get("names", list, [])),
        allowlist=tuple(r.get("allowlist", list, [])), stall_s=float(r.get("stall_s", (int, float), 10.0)),
    )
    r.done()
    if kind == "ble-ecg" and cfg.address is None and not cfg.names:
        raise ConfigError(f"{where}: a ble-ecg stream needs address or names")
    if cfg.stall_s <= 0:
        raise ConfigError(f"{where}.stall_s: {cfg.stall_s} (expected a positive number of seconds)")
    return cfg


def parse_config(data: dict[str, Any], base: Path, source: Path | None = None) -> ServiceConfig:
    top = _Reader(data, "")
    gw = _Reader(top.get("gateway", dict), "gateway")
    gateway = gw.get("name", str)
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0] or str(user_state_dir())
    state_dir = _path(base, gw.get("state_dir", str, state))
    status_interval = float(gw.get("status_interval_s", (int, float), 10.0))
    gw.done()
    ev = _Reader(top.get("events", dict, {}), "events")
    jsonl = _path(state_dir, ev.get("jsonl", str, "events.jsonl"))
    max_bytes, backups = ev.get("max_bytes", int, 10_000_000), ev.get("backups", int, 5)
    ev.done()
    mqtt = None
    if "mqtt" in data:
        m = _Reader(top.get("mqtt", dict), "mqtt")
        mqtt = MqttSettings(host=m.get("host", str), port=m.get("port", int, 1883), gateway=gateway,
                            username=m.get("username", str, None), password=m.get("password", str, None),
                            tls_ca=m.get("tls_ca", str, None), tls_cert=m.get("tls_cert", str, None),
                            tls_key=m.get("tls_key", str, None), keepalive_s=m.get("keepalive_s", int, 30))
        m.done()
        if not 0 < mqtt.port < 65536:
            raise ConfigError(f"mqtt.port: {mqtt.port} (expected 1..65535)")
    raw_streams = top.get("streams", list)
    streams = tuple(_stream(s, f"streams[{i}]", base) for i, s in enumerate(raw_streams))
    top.done()
    names = [s.name for s in streams]
    if not streams or len(set(names)) != len(names):
        raise ConfigError(f"streams: names {names} (expected at least one stream, each name unique)")
    return ServiceConfig(gateway, state_dir, streams, jsonl, max_bytes, backups, mqtt, status_interval, source)


def load_config(path: Path) -> ServiceConfig:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (expected TOML)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_config(data, path.parent.resolve(), path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def user_state_dir() -> Path:
    """Where a service run by hand keeps its outbox and events: $XDG_STATE_HOME/vigil or ~/.local/state/vigil
    (systemd's $STATE_DIRECTORY wins when set), never the current folder."""
    systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vigil"
