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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edge.config_table import Table, resolve
from edge.errors import ConfigError
from edge.learn.period import parse_duration
from edge.observe.web.settings import HttpSettings, parse_listen
from edge.sinks.base import SinkConfig, SinkContext, sink_kinds
from edge.sources.base import SourceConfig, source_kinds

_STREAM_KEYS = frozenset({"name", "kind", "bundle", "variant", "stall_s", "learn"})


@dataclass(frozen=True)
class StreamConfig:
    name: str
    kind: str  # a registered Source kind
    bundle: Path
    source: SourceConfig
    variant: str | None = None
    stall_s: float = 10.0  # running without progress for this long: the watchdog stops being fed
    learn_s: float | None = None  # a learning period (s) before events: edge.learn
    where: str = field(default="stream", compare=False)  # its table in the config file: streams[0]


@dataclass(frozen=True)
class ServiceConfig:
    gateway: str
    state_dir: Path
    streams: tuple[StreamConfig, ...]
    sinks: tuple[SinkConfig, ...]  # where events go: one per configured sink kind (edge.sinks.base)
    status_interval_s: float = 10.0
    source: Path | None = field(default=None, compare=False)
    http: HttpSettings | None = None  # the live page and /metrics
    event_update_s: float = 10.0  # an open event's update records: at most one per this many stream seconds


def stream_kinds() -> tuple[str, ...]:
    return tuple(source_kinds())


def _stream(table: Any, where: str, base: Path) -> StreamConfig:
    kinds = source_kinds()
    head = Table(table, where, base)
    head.expect(_STREAM_KEYS.union(*(k.config_type.keys for k in kinds.values())))  # a typo before a "missing"
    kind = head.get("kind", str, choices=tuple(kinds))
    source_type = kinds[kind].config_type
    head.expect(_STREAM_KEYS | source_type.keys)
    variant = head.get("variant", str, None, choices=("int8", "float32"))
    learn_s = None
    if "learn" in head.table:
        learn_s = parse_duration(head.table["learn"], head.key("learn"))
        if variant == "int8":  # what a learning period writes has no int8 model to switch to
            raise ConfigError(f"{head.key('variant')}: 'int8' with {head.key('learn')} (expected no variant or "
                              "'float32': the learned bundle is float32, refitted in NumPy on the gateway)")
    return StreamConfig(name=head.topic_level("name"), kind=kind, bundle=resolve(base, head.get("bundle", str)),
                        source=source_type.parse(head), variant=variant,
                        stall_s=head.positive("stall_s", 10.0), learn_s=learn_s, where=where)


def _sinks(top: Table, context: SinkContext) -> tuple[SinkConfig, ...]:
    """Each kind's legacy table ([events], [mqtt]), then every [[sinks]] table in order; a kind kept by
    default (the event log) and named by none comes first with its defaults. A kind configured twice
    (two [[sinks]] tables, or one and the kind's legacy table) is refused: one sink per kind."""
    kinds = sink_kinds()
    found: dict[str, tuple[str, SinkConfig]] = {}  # kind -> (where it was configured, its settings)

    def add(kind: str, table: Table, legacy: bool) -> None:
        config_type = kinds[kind].config_type
        table.expect(config_type.table_keys(legacy) | ({"kind"} if not legacy else set()))
        if kind in found:
            raise ConfigError(f"{table.where}: a second {kind} sink (the first is {found[kind][0]}; expected "
                              f"each sink kind once)")
        found[kind] = (f"[{table.where}]" if legacy else table.where,
                       config_type.parse(table, replace(context, legacy=legacy)))

    for kind, sink in kinds.items():
        name = sink.config_type.legacy_table
        if name is not None and name in top.table:
            add(kind, top.table_at(name), legacy=True)
    for i, raw in enumerate(top.get("sinks", list, [])):
        table = Table(raw, f"sinks[{i}]", top.base)
        table.expect(frozenset({"kind"}).union(*(k.config_type.table_keys(False) for k in kinds.values())))
        add(table.get("kind", str, choices=tuple(kinds)), table, legacy=False)
    defaults = tuple(k.config_type.parse(Table({}, k.config_type.legacy_table or kind, top.base),
                                         replace(context, legacy=True))
                     for kind, k in kinds.items() if k.config_type.always and kind not in found)
    return defaults + tuple(config for _, config in found.values())


def check_state_dir(path: Path, where: str) -> Path:
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where}: {path} is a file (expected a folder for the event log and the outbox)")
    return path


def parse_config(data: dict[str, Any], base: Path, source: Path | None = None) -> ServiceConfig:
    top = Table(data, "", base)
    legacy = {t for k in sink_kinds().values() if (t := k.config_type.legacy_table) is not None}  # [events], [mqtt]
    top.expect(frozenset({"gateway", "http", "streams", "sinks"}).union(legacy))
    gw = Table(top.get("gateway", dict), "gateway", base)
    gw.expect(frozenset({"name", "state_dir", "status_interval_s", "event_update_s"}))
    gateway = gw.topic_level("name")
    state = str(user_state_dir())
    state_dir = check_state_dir(resolve(base, gw.get("state_dir", str, state)), "gateway.state_dir")
    status_interval = gw.positive("status_interval_s", 10.0)
    event_update = gw.positive("event_update_s", 10.0)
    sinks = _sinks(top, SinkContext(gateway, state_dir))
    http = None
    if "http" in data:
        h = Table(top.get("http", dict), "http", base)
        h.expect(frozenset({"listen", "token"}))
        http = HttpSettings(*parse_listen(h.get("listen", str, "127.0.0.1:8321"), "http.listen"),
                            h.get("token", str, None))
    # no stream is a valid config: a fresh install runs (and says so) until its devices are filled in
    raw_streams = top.get("streams", list, [])
    streams = tuple(_stream(s, f"streams[{i}]", base) for i, s in enumerate(raw_streams))
    names = [s.name for s in streams]
    if len(set(names)) != len(names):
        raise ConfigError(f"streams: names {names} (expected each name unique)")
    return ServiceConfig(gateway, state_dir, streams, sinks, status_interval, source, http,
                         event_update_s=event_update)


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
