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
                 link: Callable[[], BrokerLink | None],
                 sinks: Callable[[], Iterable[tuple[str, dict[str, object]]]] = lambda: ()) -> None:
        self.config, self._states, self._link, self._sinks = config, states, link, sinks
        self.health = Health(config.gateway, config.state_dir, states, self.broker, self.outbox)
        self.page: Any = None
        self.discovery: Any = None
        self._outbox: tuple[float, int | None] = (-1.0, None)
        self._last_report = 0.0
        self._hooked: BrokerLink | None = None  # the link whose connects announce discovery

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
        """A new broker sink (start, reload): Home Assistant configs go out at each of its connects and at
        Home Assistant's birth message. The new Discovery takes over what the last one left retained (and
        the events it counted), so that the streams a reload removed are cleared."""
        prefix = None if link is None else link.discovery_prefix
        old, self.discovery = self.discovery, None
        if link is None or prefix is None:
            return
        from edge.observe.home_assistant import Discovery, state_filter

        self.discovery = Discovery(self.config.gateway, self._states, link.publish, prefix,
                                   every_s=self.config.status_interval_s, previous=old)
        if link is not self._hooked:  # one hook per link: a link kept across a reload is not hooked twice (a
            self._hooked = link       # new Discovery announces every stream at its first tick)
            link.subscribe(self.discovery.birth_topic, self._birth)
            link.subscribe(state_filter(self.config.gateway), self._retained_state)
            link.add_connect_hook(self._announce)  # now, if connected, and at every reconnect

    def _announce(self) -> None:
        discovery = self.discovery  # read once: a reload may replace it from the service's loop
        if discovery is not None:
            discovery.on_connect()

    def _retained_state(self, topic: str, payload: bytes) -> None:
        discovery = self.discovery
        if discovery is not None:
            discovery.on_retained_state(topic, payload)

    def _birth(self, topic: str, payload: bytes) -> None:
        discovery = self.discovery
        if discovery is not None:
            discovery.on_birth(topic, payload)

    def _connected(self) -> bool | None:
        link = self._link()
        return None if link is None else link.connected

    async def start(self) -> None:
        http = self.config.http
        if http is None:
            return
        from edge.observe.metrics import Metrics
        from edge.observe.web.server import LivePage

        metrics = Metrics(self._states, self.outbox, self._connected, self._sinks)
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
