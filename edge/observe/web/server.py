"""The live page's HTTP server: the page and its assets, /metrics, a JSON snapshot and Server-Sent Events.

aiohttp (not the stdlib): its HTTP parser and SSE streaming are maintained and hardened, it runs in
the service's own asyncio loop (no thread, no timer while no page is open), and at the live load
(benchmarks/load/live_load.py) it added 12 MB RSS (115.3 -> 127.5 MB, with prometheus_client) and 3.6 -> 4.0 %
of a core with nobody looking (about this machine's run-to-run spread). The stdlib
alternative (asyncio streams plus a hand-written request parser) would save those megabytes but
put an unreviewed HTTP parser on a port that may face a network.

Read-only: GET only. With a token set, /api/* and /metrics need it (``?token=`` or ``Authorization:
Bearer``); the page and its assets are public code without data. Live updates: one SSE message
every ``tick_s`` per open page with only what is new since the last one (traces are numbered).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from aiohttp import web

from edge.modalities.base import modality_named
from edge.observe.health import stream_summary
from edge.pipeline.stream_state import StreamState
from edge.sinks.events import EventRecord

log = logging.getLogger("vigil.web")
STATIC = resources.files("edge.observe.web") / "static"
ASSETS = {"uPlot.iife.min.js": "text/javascript", "uPlot.min.css": "text/css", "app.js": "text/javascript",
          "app.css": "text/css"}
SCORE_HISTORY_S = 60.0  # the score plot's span; the signal's is the state's history_s


def _rows(rows: list[tuple[float, ...]], digits: int = 5) -> list[list[float]]:
    return [[round(v, digits) for v in r] for r in rows]


def event_kind(detector: str) -> str:
    """What raised an event, for a reader: ``anomaly`` (the stream's model), ``signal quality`` or
    ``heart rate`` (the fetal stage's ``fetal-<kind>`` rules)."""
    from edge.fetal.quality import KINDS

    if not detector.startswith("fetal-"):
        return "anomaly"
    return "signal quality" if detector.removeprefix("fetal-") in KINDS else "heart rate"


def _event_row(record: EventRecord) -> dict[str, Any]:
    """An event for the page: stream times (s), wall clock (ISO 8601 UTC), peak score, detector and kind."""
    return {"event_id": record.event_id, "start_s": round(record.start_s, 3), "end_s": round(record.end_s, 3),
            "start": record.start, "end": record.end, "peak": round(record.peak_score, 5), "detector": record.detector,
            "kind": event_kind(record.detector), "explain": record.explain, "heard_by": record.heard_by}


class LivePage:
    """Serves `states()` (the streams' StreamState) and `gateway()` (a JSON-ready dict of gateway health)."""

    def __init__(self, states: Callable[[], Iterable[StreamState]], gateway: Callable[[], dict[str, Any]],
                 metrics: Callable[[], bytes], *, token: str | None = None, tick_s: float = 0.5) -> None:
        self._states, self._gateway, self._metrics = states, gateway, metrics
        self.token, self.tick_s = token, tick_s
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.clients = 0
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/metrics", self._metrics_handler)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/live", self._live)
        self.app = app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token and (request.path.startswith("/api/") or request.path == "/metrics"):
            given = request.query.get("token", "")
            header = request.headers.get("Authorization", "")
            if header.startswith("Bearer "):
                given = header[7:]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return web.Response(status=401, text="token required\n", headers={"WWW-Authenticate": "Bearer"})
        response: web.StreamResponse = await handler(request)
        return response

    async def _index(self, _request: web.Request) -> web.Response:
        return web.Response(body=(STATIC / "index.html").read_bytes(), content_type="text/html", charset="utf-8")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ASSETS:  # a fixed list: no path from the request reaches the file system
            raise web.HTTPNotFound()
        return web.Response(body=(STATIC / name).read_bytes(), content_type=ASSETS[name],
                            headers={"Cache-Control": "max-age=3600"})

    async def _metrics_handler(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._metrics(), headers={"Content-Type": "text/plain; version=0.0.4; "
                                                           "charset=utf-8"})

    def snapshot(self, seen: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
        """Gateway health and every stream; with `seen` (row counts a client has), only new rows."""
        streams = []
        for s in self._states():
            s.watch(3 * self.tick_s if seen is not None else 10.0)  # a poller of /api/state looks too
            cursor = (seen if seen is not None else {}).setdefault(s.name, {})
            entry: dict[str, Any] = stream_summary(s)
            entry["history_s"] = s.history_s
            entry["signal_unit"] = s.signal_unit
            if entry["open_event"] is not None:  # the page names what raised it, as for closed events
                entry["open_event"] = {**entry["open_event"], "kind": event_kind(entry["open_event"]["detector"])}
            entry["heart_rate"] = modality_named(s.modality).heart_rate  # the page plots FHR for these
            entry["bundle"] = {"name": s.bundle, "detector": s.detector, "variant": s.variant,
                               "sha256": s.model_sha256, "created": s.bundle_created}
            entry["epoch_s"] = s.epoch_s  # wall clock of the stream's time 0 (None before its first block)
            entry["ctg"] = s.ctg  # the fetal stage's CTG reading beside the FHR trace (small: sent every time)
            traces: dict[str, tuple[Any, int, Any]] = {  # rows kept, rows ever, row -> list
                "signal": (s.signal.rows, s.signal.count, list), "fhr": (s.fhr.rows, s.fhr.count, list),
                "scores": (s.recent_scores, s.windows, list),
                "recent_events": (s.recent_events, s.events, _event_row)}
            for key, (rows, count, row) in traces.items():
                new = len(rows) if seen is None else min(count - cursor.get(key, 0), len(rows))
                picked = [row(r) for r in list(rows)[len(rows) - new :]] if new > 0 else []
                if key == "scores" and key not in cursor and picked:  # a page's first message: the plot's span
                    picked = [r for r in picked if r[0] >= picked[-1][0] - SCORE_HISTORY_S]
                cursor[key] = count
                entry[key] = picked if key == "recent_events" else _rows(picked)
            streams.append(entry)
        return {"gateway": self._gateway(), "streams": streams, "score_history_s": SCORE_HISTORY_S}

    async def _state(self, _request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _live(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        seen: dict[str, dict[str, int]] = {}
        self.clients += 1
        try:
            while not self._closing.is_set():
                await response.write(f"data: {json.dumps(self.snapshot(seen), separators=(',', ':'))}\n\n".encode())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.tick_s)
        except ConnectionResetError:
            pass  # the page was closed
        finally:
            self.clients -= 1
        return response

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, shutdown_timeout=1.0)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            from edge.errors import ConfigError

            raise ConfigError(f"http: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
        log.info("live page on http://%s:%d/", host, port)

    async def stop(self) -> None:
        self._closing.set()  # open SSE responses end their loop
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
