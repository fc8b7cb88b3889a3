"""A fresh `install-gateway.sh --root` image, moved, run with no microphone and no wearable under a notify socket.

Usage (as root: unshare, chroot, useradd): .venv/bin/python -m benchmarks.load.installed_watch [--minutes 10]

The image is built under one path and moved to another (as an image is copied to a gateway's /), then the
unit's ExecStart runs as the user `vigil` in a chroot of it, with NOTIFY_SOCKET and WATCHDOG_USEC set from the
unit's WatchdogSec=. The config is the installed one with the two streams whose bundles the installer deploys
uncommented (a microphone stream and a BLE wearable): this machine has no sound card and no Bluetooth adapter.
As in tests/test_install_gateway.py (plus /etc/ld.so.cache, so that PortAudio is found), the venv's
dependencies come from this venv through a .pth file (the installer runs with --no-deps). Prints: READY=1
and WATCHDOG=1 counts, the longest gap between pings against the watchdog's timeout, whether the process
stayed up, each distinct STATUS= line, and the service's stderr.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _unit_value(unit: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}="))


def build(work: Path) -> Path:
    """Install into work/built, move it to work/moved; returns the moved root."""
    built, moved = work / "built", work / "moved"
    (built / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow", "hosts", "nsswitch.conf", "ld.so.cache"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), built / "etc" / name)
    subprocess.run(["bash", str(ROOT / "scripts/install-gateway.sh"), "--root", str(built), "--python",
                    "/usr/bin/python3", "--pip-args", "--no-deps"], check=True, capture_output=True)
    built.rename(moved)
    site = next((moved / "opt/vigil/venv/lib").glob("python3*/site-packages"))
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    config = moved / "etc/vigil/vigil.toml"
    text = config.read_text()
    template = (ROOT / "edge/data/example.toml").read_text()
    streams = template[template.index("[[streams]]"):].split("\n\n")
    deployed = [table for table in streams if "bundles/pump" in table or "bundles/ecg-donut" in table]
    config.write_text(text + "\n" + "\n\n".join(deployed) + "\n")
    return moved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-installed-", dir="/tmp"))
    work.chmod(0o755)
    root = build(work)
    user = next(line.split(":") for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("vigil:"))
    uid, gid = int(user[2]), int(user[3])
    unit = (root / "etc/systemd/system/vigil.service").read_text()
    exec_start, state = _unit_value(unit, "ExecStart"), "/var/lib/" + _unit_value(unit, "StateDirectory")
    watchdog_s = float(_unit_value(unit, "WatchdogSec").rstrip("s"))
    (root / state.lstrip("/")).mkdir(parents=True)
    os.chown(root / state.lstrip("/"), uid, gid)
    (root / "run/notify").mkdir(parents=True)
    os.chown(root / "run/notify", uid, gid)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(root / "run/notify/sock"))
    os.chmod(root / "run/notify/sock", 0o777)
    sock.settimeout(0.5)
    mounts = []
    for top in ("usr", "bin", "sbin", "lib", "lib64", "dev", "proc"):
        host = Path("/", top)
        if host.is_symlink():
            (root / top).symlink_to(os.readlink(host))
        elif host.is_dir():
            (root / top).mkdir(exist_ok=True)
            mounts.append(f"mount --bind /{top} {root / top}")
    deps = sysconfig.get_paths()["purelib"]
    (root / deps.lstrip("/")).mkdir(parents=True, exist_ok=True)
    mounts.append(f"mount --bind {shlex.quote(deps)} {shlex.quote(str(root / deps.lstrip('/')))}")
    env = (f"env -i PATH=/usr/bin:/bin HOME={state} NOTIFY_SOCKET=/run/notify/sock STATE_DIRECTORY={state} "
           f"PYTHONUNBUFFERED=1 WATCHDOG_USEC={int(watchdog_s * 1e6)}")
    inner = f"cd {state} && exec {env} {exec_start}"
    script = " && ".join([*mounts, f"exec chroot --userspec={uid}:{gid} {root} /bin/sh -c {shlex.quote(inner)}"])
    err_path = work / "stderr.txt"
    pings: list[float] = []
    statuses: dict[str, int] = {}
    ready = 0
    with err_path.open("w") as err:
        proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script], stderr=err)
        start = time.monotonic()
        while time.monotonic() < start + args.minutes * 60 and proc.poll() is None:
            try:
                lines = sock.recv(4096).decode().splitlines()
            except TimeoutError:
                continue
            for line in lines:
                ready += line == "READY=1"
                if line == "WATCHDOG=1":
                    pings.append(time.monotonic())
                if line.startswith("STATUS="):
                    statuses[line] = statuses.get(line, 0) + 1
        alive = proc.poll() is None
        proc.terminate()
        status = proc.wait(30)
    sock.close()
    gaps = [b - a for a, b in zip([start, *pings], pings, strict=False)]
    print(f"ran {args.minutes:g} min from {root} (built under {work / 'built'}); alive throughout: {alive}; "
          f"exit after SIGTERM {status}")
    print(f"READY=1 {ready}; WATCHDOG=1 {len(pings)}; longest gap {max(gaps, default=0):.1f} s "
          f"(watchdog timeout {watchdog_s:g} s)")
    for line, count in statuses.items():
        print(f"  {count} x {line.replace(chr(10), ' ')}")
    print("stderr:")
    for line in err_path.read_text().splitlines():
        print("  " + line)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
