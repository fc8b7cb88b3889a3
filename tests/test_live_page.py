"""The live page as its user sees it: `vigil run --http` replaying a recording, a real headless
Chromium (Debian's /usr/bin/chromium, driven by playwright; no browser is downloaded) watching an
event appear; /metrics scraped as Prometheus would; SIGTERM ends the service with status 0."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, starts_peer
from tests.mosquitto import free_port

DATA = ROOT / "edge" / "data"
WAV = sorted((DATA / "samples" / "slider").glob("anomaly_*.wav"))[0]
FETAL = ROOT.parent / "shared" / "data" / "adfecgdb" / "r01.edf"  # a scalp lead and four abdominal ones
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "out" / "test-artifacts"
# what works here as root without a network (see the environment notes): no sandbox, no GPU, no phoning home
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


class Service:
    def __init__(self, args: list[str], port: int, tmp: Path) -> None:
        self.port = port
        self.log = tmp / "service.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", *args], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=self.log.open("w"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"nothing listens on {port}:\n{self.log.read_text()}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, "", exc.read().decode()

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Service]:
    service = Service(["--http", f"127.0.0.1:{(port := free_port())}", "--state-dir", str(tmp_path / "state")],
                      port, tmp_path)
    yield service
    service.terminate()


def test_embedded_default_serves_page_and_metrics_and_stops_cleanly(embedded: Service) -> None:
    status, kind, page = embedded.get("/")
    assert status == 200 and kind.startswith("text/html") and "static/app.js" in page
    time.sleep(1.5)  # a few windows scored
    status, kind, text = embedded.get("/metrics")
    assert status == 200 and kind.startswith("text/plain")
    series = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    assert {"vigil_windows_total", "vigil_events_total", "vigil_score", "vigil_missing_samples_total",
            "vigil_build_info", "vigil_stream_bundle_info",
            "process_resident_memory_bytes", "process_cpu_seconds_total"} <= series, series
    assert not any(name.startswith("vigil_process_") for name in series)
    windows = {m[0]: float(m[1]) for m in re.findall(r'vigil_windows_total\{stream="([^"]+)"\} (\S+)', text)}
    assert set(windows) == {"fan-replay", "slider-replay", "fetal-ecg-replay"} and windows["fan-replay"] > 0
    assert all(not s["signal"] for s in json.loads(embedded.get("/api/state")[2])["streams"])  # nobody looked
    time.sleep(1.0)  # the envelope is kept while someone looks
    status, _, body = embedded.get("/api/state")
    state = json.loads(body)
    assert [s["name"] for s in state["streams"]] == ["fan-replay", "slider-replay", "fetal-ecg-replay"]
    assert state["streams"][0]["signal"], "no signal envelope"
    assert embedded.terminate() == 0, embedded.log.read_text()


def test_page_assets_are_all_shipped() -> None:
    """An offline gateway: the page loads nothing from elsewhere, and every file it names is in the package."""
    static = ROOT / "edge" / "observe" / "web" / "static"
    page = (static / "index.html").read_text()
    named = re.findall(r'(?:src|href)="static/([^"]+)"', page)
    assert named and all((static / n).is_file() for n in named)
    for name in ("index.html", "app.js", "app.css"):
        assert not re.search(r"https?://", (static / name).read_text()), name
    assert "MIT" in (static / "uPlot.LICENSE").read_text()


def test_token_guards_data_not_the_page(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'[gateway]\nname = "gw"\nstate_dir = "{tmp_path / "state"}"\n'
                      f'[http]\nlisten = "127.0.0.1:{port}"\ntoken = "s3cret"\n'
                      f'[[streams]]\nname = "slider"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
                      f'path = "{WAV}"\nloop = true\n')
    service = Service(["--config", str(config)], port, tmp_path)
    try:
        assert service.get("/")[0] == 200
        assert service.get("/metrics")[0] == 401 and service.get("/api/state?token=wrong")[0] == 401
        assert service.get("/metrics", {"Authorization": "Bearer s3cret"})[0] == 200
        assert service.get("/api/state?token=s3cret")[0] == 200
    finally:
        assert service.terminate() == 0


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/test.sh installs it)")
@pytest.mark.peer  # chromium
def test_chromium_sees_an_event_appear(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'[gateway]\nname = "page-test"\nstate_dir = "{tmp_path / "state"}"\nstatus_interval_s = 1\n'
                      f'[http]\ntoken = "t0k"\nlisten = "127.0.0.1:{port}"\n'
                      f'[[streams]]\nname = "slider-1"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
                      f'path = "{WAV}"\n'  # replayed once: its event closes at the end
                      f'[[streams]]\nname = "slider-loop"\nkind = "file"\nbundle = "{DATA / "bundles" / "slider"}"\n'
                      f'path = "{WAV}"\nloop = true\n'  # looped: its event stays open
                      f'[[streams]]\nname = "fetal-ecg"\nkind = "file"\nbundle = "{DATA / "bundles" / "ecg-donut"}"\n'
                      f'path = "{FETAL}"\nloop = true\n')  # abdominal leads: the fetal chain gives FHR
    service = Service(["--config", str(config)], port, tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "live-page.png"
    try:
        with playwright.sync_playwright() as p:
            starts_peer("chromium")
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                        env={**os.environ, "HOME": str(tmp_path)})
            page = browser.new_page(viewport={"width": 1240, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/?token=t0k")
            card = page.locator('section.stream[data-stream="slider-1"]')
            card.wait_for(timeout=15_000)
            assert page.locator("canvas").count() >= 7  # signal and score per stream, FHR for the ECG stream
            assert page.locator('section.stream[data-stream="fetal-ecg"] .nofhr').is_visible()  # no beats yet
            clock = r"\d\d:\d\d:\d\d"
            # the looped anomaly clip: its event is drawn while it is open (listed first, with its peak so far)
            opened = page.locator('section.stream[data-stream="slider-loop"] li.event.open')
            opened.wait_for(timeout=30_000)
            text = opened.inner_text()
            assert re.fullmatch(rf"open since \d+\.\d s, peak so far \d\S* · [\w-]+ \(anomaly\) · since {clock}",
                                text), text
            assert re.fullmatch(r"[0-9a-f]{32}", opened.get_attribute("data-event-id") or ""), text
            # the clip replayed once: its event closes at the end of the replay, listed and shaded, none open
            card.locator("li.event:not(.open)").first.wait_for(timeout=30_000)
            assert card.locator("li.event.open").count() == 0
            text = card.locator("li.event").first.inner_text()
            where = r"[\d.]+ k?Hz–[\d.]+ k?Hz \(\d+ %\)"  # the bands its peak window moved (machine sound)
            heard = r" · heard by (?:maha|maha-envelope) \(z [\d.]+\)"  # the fused member that heard the peak
            assert re.fullmatch(rf"\d+\.\d–\d+\.\d s, peak \d\S* · [\w-]+ \(anomaly\) · {clock}–{clock} · "
                                rf"listen at {where}(, {where}){{2}}{heard}", text), text
            bundle_line = card.locator(".bundle").inner_text()  # the variant the gateway runs: int8 or float32
            assert re.fullmatch(rf"model \S+ · [\w-]+ (?:int8|float32) · sha256 [0-9a-f]{{12}} · "
                                rf"built \d{{4}}-\d\d-\d\d · stream time 0 at {clock}", bundle_line), bundle_line
            assert "events" in card.locator(".health").inner_text()
            # every axis: its unit in a label and several ticks; time ticks in stream seconds over the wall clock
            plots = card.locator(".plot").all()
            labels = [(p.get_attribute("data-label-x"), p.get_attribute("data-label-y")) for p in plots]
            time_axis = "stream time (s) · wall clock"
            assert labels == [(time_axis, "signal (full scale)"), (time_axis, "score")], labels
            ecg = page.locator('section.stream[data-stream="fetal-ecg"]')
            page.wait_for_function("/^FHR \\d+ bpm$/.test(document.querySelector("
                                   "'section[data-stream=\"fetal-ecg\"] .fhr-now').textContent)", timeout=20_000)
            try:
                page.wait_for_function("[...document.querySelectorAll('.plot')].every("  # every plot drawn, the FHR too
                                       "p => p.dataset.ticksX && p.dataset.ticksY)", timeout=20_000)
            except playwright.TimeoutError:
                undrawn = page.evaluate("[...document.querySelectorAll('.plot')].filter(p => !(p.dataset.ticksX && "
                                        "p.dataset.ticksY)).map(p => p.closest('section').dataset.stream + ' ' + "
                                        "p.className + ' ' + JSON.stringify(p.dataset))")
                raise AssertionError(f"plots not drawn: {undrawn}") from None
            for plot in page.locator(".plot").all():  # both streams' signal and score, and the FHR
                xs, ys = plot.get_attribute("data-ticks-x"), plot.get_attribute("data-ticks-y")
                assert xs and ys and len(ys.split("|")) >= 2 and len(xs.split("|")) >= 2, (xs, ys)  # a scale
                assert all(re.fullmatch(rf"-?\d+(\.\d+)? s {clock}", t) for t in xs.split("|")), xs
            assert ecg.locator(".plot.fhr").get_attribute("data-label-y") == "FHR (bpm)"
            assert ecg.locator(".plot.signal").get_attribute("data-label-y") == "signal (uV)"
            bpm = int(ecg.locator(".fhr-now").inner_text().split()[1])
            assert 50 <= bpm <= 210 and not ecg.locator(".nofhr").is_visible()
            assert card.locator(".fhr-now").count() == 0  # no FHR on a machine-sound stream
            ticks = [float(v) for v in ecg.locator(".plot.fhr").get_attribute("data-ticks-y").split("|")]
            assert min(ticks) <= 60 and max(ticks) >= 200  # the CTG scale, 50-210 bpm, whatever the trace
            reading = ecg.locator(".ctg-reading")  # beside the trace: the CTG reading, none on 60 s of FHR yet
            reading.locator(".ctg-row").first.wait_for(timeout=20_000)
            assert reading.get_attribute("data-category") == "none", reading.inner_text()
            assert "valid FHR" in reading.locator(".ctg-why").inner_text()
            page.wait_for_timeout(1500)  # a few more updates drawn
            page.screenshot(path=str(shot), full_page=True)
            health = card.locator(".health").inner_text()
            browser.close()
        assert not errors, errors
        assert re.search(r"[1-9]\d* events", health), health
        assert shot.stat().st_size > 10_000
    finally:
        assert service.terminate() == 0, service.log.read_text()
