"""A screenshot of the live page (README's docs/live-page.png): `vigil run --http` with the embedded
default (the bundled recordings replayed in real time), seen by Debian's headless chromium.

Usage: .venv/bin/python -m benchmarks.page_screenshot [--out docs/live-page.png] [--seconds 25] [--config TOML]

With --config, that gateway config's streams instead of the embedded default (whose ECG sample has a scalp
lead only: no FHR). reports/gateway-field.md has the config behind docs/live-page.png.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "live-page.png")
    parser.add_argument("--seconds", type=float, default=25, help="page open this long before the shot")
    parser.add_argument("--config", type=Path, help="a gateway config (its [http] table is overridden)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    state = Path(tempfile.mkdtemp(prefix="vigil-shot-"))
    config = ["--config", str(args.config.resolve())] if args.config else []
    service = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", *config, "--http", f"127.0.0.1:{port}",
                                "--state-dir", str(state)], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1800, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_timeout(args.seconds * 1000)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        service.send_signal(signal.SIGTERM)
        print(f"{args.out} (service exit status {service.wait(30)})")


if __name__ == "__main__":
    main()
