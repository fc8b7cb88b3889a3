"""Everything that looks at a running service without changing it: status lines and warnings
(edge.observe.health), the live page and /metrics (edge.observe.web, edge.observe.metrics), Home Assistant discovery
(edge.observe.home_assistant). The service calls `tick()` from its loop; all of it reads the streams'
StreamState and the sink connected to a broker (edge.sinks.base.BrokerLink, the MQTT sink), nothing here is
on the scoring path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from edge.observe.health import Health
from edge.pipeline.stream_state import StreamState
from edge.service.config import ServiceConfig
from edge.sinks.base import BrokerLink

log = logging.getLogger("vigil.service")


class Observers:
    def __init__(self, config: ServiceConfig, states: Callable[[], Iterable[StreamState]],
                 link: Callable[[], BrokerLink | None]) -> None:
        self.config, self._states, self._link = config, states, link
        self.health = Health(config.gateway, config.state_dir, states, self.broker, self.outbox)
        self.page: Any = None
        self.discovery: Any = None
        self._discovery_link: BrokerLink | None = None  # the sink the Discovery publishes through
        self._outbox: tuple[float, int | None] = (-1.0, None)
        self._last_report = 0.0

    # --- gateway-level readings, shared by the status lines, the page and /metrics ---------------
    def broker(self) -> str:
        link = self._link()
        return "off" if link is None else link.state  # connecting, connected, unreachable, ...

    def outbox(self) -> int | None:
        """Events waiting for the broker (a COUNT(*) on the outbox: cached for a second)."""
        link, now = self._link(), time.monotonic()
        if link is None:
            return None
        if now - self._outbox[0] > 1.0:
            self._outbox = (now, link.backlog())
        return self._outbox[1]

    def gateway(self) -> dict[str, Any]:
        return {"gateway": self.config.gateway, "broker": self.broker(), "outbox": self.outbox(),
                "page_clients": self.page.clients if self.page is not None else 0}

    # --- lifecycle ------------------------------------------------------------------------------
    def attach_broker(self, link: BrokerLink | None) -> None:
        """The broker sink after a start or reload: Home Assistant configs go out at each of its connects
        and at Home Assistant's birth message. A sink kept by a reload keeps its Discovery (which then
        clears the configs of removed streams); a new sink's Discovery inherits what the last one left
        retained, so that a stream removed along with a broker setting is cleared too."""
        prefix = None if link is None else link.discovery_prefix
        old, self.discovery = self.discovery, None
        if link is None or prefix is None:
            self._discovery_link = None
            return
        if old is not None and link is self._discovery_link:
            self.discovery, old.every_s = old, self.config.status_interval_s
            return
        from edge.observe.home_assistant import Discovery

        retained = old.retained if old is not None and (old.gateway, old.prefix) == (self.config.gateway, prefix) \
            else None
        self.discovery = Discovery(self.config.gateway, self._states, link.publish, prefix,
                                   every_s=self.config.status_interval_s, retained=retained)
        self._discovery_link = link
        link.subscribe(self.discovery.birth_topic, self.discovery.on_birth)
        link.add_connect_hook(self.discovery.on_connect)

    def _connected(self) -> bool | None:
        link = self._link()
        return None if link is None else link.connected

    async def start(self) -> None:
        http = self.config.http
        if http is None:
            return
        from edge.observe.metrics import Metrics
        from edge.observe.web.server import LivePage

        metrics = Metrics(self._states, self.outbox, self._connected)
        self.page = LivePage(self._states, self.gateway, metrics.render, token=http.token)
        if not http.loopback and not http.token:
            log.warning("http: %s is reachable from the network and [http] token is not set: anyone there "
                        "can read the page and /metrics", http.host)
        await self.page.start(http.host, http.port)

    def tick(self) -> None:
        now = time.monotonic()
        self.health.check()
        link = self._link()
        if self.discovery is not None and link is not None and link.connected:
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
