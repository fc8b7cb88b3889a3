"""`vigil run` configuration: one TOML file validated into frozen dataclasses.

Every error names the config file and the key (as a path like ``streams[1].kind``), the value
found and what was expected; a key nobody reads is refused by name. Relative paths are resolved
against the config file's folder; the state directory defaults to systemd's $STATE_DIRECTORY,
else the user's ($XDG_STATE_HOME/vigil, ~/.local/state/vigil), never the current folder. Each
stream kind parses its own keys (``edge.sources.base``: one class per kind).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.config_table import Table, resolve
from edge.errors import ConfigError
from edge.observe.web.settings import HttpSettings, parse_listen
from edge.sinks.base import MqttSettings
from edge.sources.base import SourceConfig, source_kinds

_STREAM_KEYS = frozenset({"name", "kind", "bundle", "variant", "stall_s"})


@dataclass(frozen=True)
class StreamConfig:
    name: str
    kind: str  # a registered Source kind
    bundle: Path
    source: SourceConfig
    variant: str | None = None
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
    http: HttpSettings | None = None  # the live page and /metrics


def stream_kinds() -> tuple[str, ...]:
    return tuple(source_kinds())


def _stream(table: Any, where: str, base: Path) -> StreamConfig:
    kinds = source_kinds()
    head = Table(table, where, base)
    head.expect(_STREAM_KEYS.union(*(k.config_type.keys for k in kinds.values())))  # a typo before a "missing"
    kind = head.get("kind", str, choices=tuple(kinds))
    source_type = kinds[kind].config_type
    head.expect(_STREAM_KEYS | source_type.keys)
    return StreamConfig(name=head.topic_level("name"), kind=kind, bundle=resolve(base, head.get("bundle", str)),
                        source=source_type.parse(head),
                        variant=head.get("variant", str, None, choices=("int8", "float32")),
                        stall_s=head.positive("stall_s", 10.0))


def _mqtt(table: Table, gateway: str, base: Path) -> MqttSettings:
    table.expect(frozenset({"host", "port", "username", "password", "tls_ca", "tls_cert", "tls_key", "keepalive_s",
                            "discovery", "discovery_prefix"}))
    files = {}
    for key in ("tls_ca", "tls_cert", "tls_key"):
        path = table.path(key, None)
        if path is not None and not path.is_file():
            raise ConfigError(f"{table.key(key)}: {path} is not a file (expected a PEM file)")
        files[key] = None if path is None else str(path)
    port = table.get("port", int, 1883)
    if not 0 < port < 65536:
        raise ConfigError(f"mqtt.port: {port} (expected 1..65535)")
    if (files["tls_cert"] is None) != (files["tls_key"] is None):
        raise ConfigError("mqtt: tls_cert and tls_key go together (expected both or neither)")
    return MqttSettings(host=table.get("host", str), port=port, gateway=gateway,
                        username=table.get("username", str, None), password=table.get("password", str, None),
                        keepalive_s=table.positive("keepalive_s", 30, int), tls_ca=files["tls_ca"],
                        tls_cert=files["tls_cert"], tls_key=files["tls_key"],
                        discovery=table.get("discovery", bool, False),
                        discovery_prefix=table.topic_level("discovery_prefix", "homeassistant"))


def check_state_dir(path: Path, where: str) -> Path:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where}: {path} is a file (expected a folder for the event log and the outbox)")
    return path


def parse_config(data: dict[str, Any], base: Path, source: Path | None = None) -> ServiceConfig:
    top = Table(data, "", base)
    top.expect(frozenset({"gateway", "events", "mqtt", "http", "streams"}))
    gw = Table(top.get("gateway", dict), "gateway", base)
    gw.expect(frozenset({"name", "state_dir", "status_interval_s"}))
    gateway = gw.topic_level("name")
    state = str(user_state_dir())
    state_dir = check_state_dir(resolve(base, gw.get("state_dir", str, state)), "gateway.state_dir")
    status_interval = gw.positive("status_interval_s", 10.0)
    ev = Table(top.get("events", dict, {}), "events", base)
    ev.expect(frozenset({"jsonl", "max_bytes", "backups"}))
    jsonl = resolve(state_dir, ev.get("jsonl", str, "events.jsonl"))
    blocked = next((p for p in (jsonl, *jsonl.parents) if p.exists()), None)  # refused here, not after a reload
    if blocked is not None and blocked.is_dir() == (blocked == jsonl):
        raise ConfigError(f"events.jsonl: {jsonl}: {blocked} is a {'folder' if blocked == jsonl else 'file'} "
                          "(expected a file path for the event log in a folder)")
    max_bytes = ev.positive("max_bytes", 10_000_000, int)
    backups = ev.get("backups", int, 5)
    if backups < 0:
        raise ConfigError(f"events.backups: {backups} (expected 0 or more old files to keep)")
    mqtt = _mqtt(Table(top.get("mqtt", dict), "mqtt", base), gateway, base) if "mqtt" in data else None
    http = None
    if "http" in data:
        h = Table(top.get("http", dict), "http", base)
        h.expect(frozenset({"listen", "token"}))
        http = HttpSettings(*parse_listen(h.get("listen", str, "127.0.0.1:8321"), "http.listen"),
                            h.get("token", str, None))
    raw_streams = top.get("streams", list)
    streams = tuple(_stream(s, f"streams[{i}]", base) for i, s in enumerate(raw_streams))
    names = [s.name for s in streams]
    if not streams or len(set(names)) != len(names):
        raise ConfigError(f"streams: names {names} (expected at least one stream, each name unique)")
    return ServiceConfig(gateway, state_dir, streams, jsonl, max_bytes, backups, mqtt, status_interval, source, http)


def load_config(path: Path) -> ServiceConfig:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file (expected TOML)")
    try:
        text = path.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected a TOML config)") from None
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
