"""Everything that looks at a running service without changing it: status lines and warnings
(edge.observe.health), the live page and /metrics (edge.observe.web, edge.observe.metrics), Home Assistant discovery
(edge.observe.home_assistant). The service calls `tick()` from its loop; all of it reads the streams'
StreamState and the MQTT sink, nothing here is on the scoring path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from edge.observe.health import Health
from edge.pipeline.stream_state import StreamState
from edge.service.config import ServiceConfig

log = logging.getLogger("vigil.service")


class Observers:
    def __init__(self, config: ServiceConfig, states: Callable[[], Iterable[StreamState]],
                 mqtt: Callable[[], Any]) -> None:
        self.config, self._states, self._mqtt = config, states, mqtt
        settings = config.mqtt
        name = f"{settings.host}:{settings.port}" if settings is not None else ""
        self.health = Health(config.gateway, config.state_dir, states, self.broker, self.outbox, name)
        self.page: Any = None
        self.discovery: Any = None
        self._outbox: tuple[float, int | None] = (-1.0, None)
        self._last_report = 0.0

    # --- gateway-level readings, shared by the status lines, the page and /metrics ---------------
    def broker(self) -> str:
        sink = self._mqtt()
        return "off" if sink is None else str(sink.state)  # connecting, connected, unreachable, ...

    def outbox(self) -> int | None:
        """Events waiting for the broker (a COUNT(*) on the outbox: cached for a second)."""
        sink, now = self._mqtt(), time.monotonic()
        if sink is None:
            return None
        if now - self._outbox[0] > 1.0:
            self._outbox = (now, len(sink.outbox))
        return self._outbox[1]

    def gateway(self) -> dict[str, Any]:
        return {"gateway": self.config.gateway, "broker": self.broker(), "outbox": self.outbox(),
                "page_clients": self.page.clients if self.page is not None else 0}

    # --- lifecycle ------------------------------------------------------------------------------
    def attach_mqtt(self, sink: Any) -> None:
        """A new MQTT sink (start, reload): Home Assistant configs go out at each of its connects."""
        settings = self.config.mqtt
        if sink is None or settings is None or not settings.discovery:
            self.discovery = None
            return
        from edge.observe.home_assistant import Discovery

        self.discovery = Discovery(self.config.gateway, self._states, sink.publish, settings.discovery_prefix,
                                   every_s=self.config.status_interval_s)
        sink.add_connect_hook(self.discovery.on_connect)

    async def start(self) -> None:
        http = self.config.http
        if http is None:
            return
        from edge.observe.metrics import Metrics
        from edge.observe.web.server import LivePage

        metrics = Metrics(self._states, self.outbox, lambda: None if self._mqtt() is None else self._mqtt().connected)
        self.page = LivePage(self._states, self.gateway, metrics.render, token=http.token)
        if not http.loopback and not http.token:
            log.warning("http: %s is reachable from the network and [http] token is not set: anyone there "
                        "can read the page and /metrics", http.host)
        await self.page.start(http.host, http.port)

    def tick(self) -> None:
        now = time.monotonic()
        for state in self._states():  # a BLE link retrying its device: "waiting", with why
            problem = state.source_health.get("problem")
            if problem and state.state in ("starting", "running", "waiting") and state.reason != problem:
                state.set("waiting", problem)
            elif not problem and state.state == "waiting":
                state.set("running")
        self.health.check()
        sink = self._mqtt()
        if self.discovery is not None and sink is not None and sink.connected:
            self.discovery.tick(now)
        if now - self._last_report >= self.config.status_interval_s:
            self.health.report()
            self._last_report = now

    async def stop(self) -> None:
        if self.page is not None:
            await self.page.stop()
            self.page = None
        self.health.remove()

    def use(self, config: ServiceConfig) -> None:
        """A reloaded config: new names and intervals (the page keeps its address until a restart)."""
        self.config = config
        self.health.gateway, self.health.state_dir = config.gateway, config.state_dir
