"""After `install-gateway.sh`, the service starts: the installed unit's ExecStart, run as the user
`vigil` against the installed config (no stream filled in yet), in a temporary root, reaches READY=1
and says that no stream is configured; the image is built under one path and run from another, as an
image built with --root is copied to a gateway's /.

The temporary root is entered with chroot inside a private mount namespace: the host's /usr (and
its merged /bin, /lib) is bind-mounted, nothing else of the host is visible. One liberty, test
scaffolding: the venv's dependencies come from this test's own venv (a .pth file; the installer
runs with --no-deps so nothing is downloaded).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.service.config import load_config
from tests.conftest import ROOT, starts_peer


def _unit_value(unit: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}="))


def _new_root() -> Path:
    # not under pytest's tmp_path: its base is 0700, and the service user must traverse the root
    path = Path(tempfile.mkdtemp(prefix="vigil-root-", dir="/tmp"))
    path.chmod(0o755)
    return path


@pytest.fixture()
def target_root() -> Iterator[Path]:
    path = _new_root()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def moved_root() -> Iterator[Path]:
    """An empty path for the image to be moved to (made and removed here)."""
    path = _new_root()
    path.rmdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.peer  # unshare and chroot
def test_installed_service_starts_as_its_user(target_root: Path, moved_root: Path) -> None:
    for tool in ("unshare", "chroot", "useradd", "/usr/bin/python3"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: the install test needs it")
    built = target_root
    (built / "etc").mkdir()
    for name in ("passwd", "group", "shadow", "gshadow", "hosts", "nsswitch.conf"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), built / "etc" / name)
    install = subprocess.run(["bash", str(ROOT / "scripts/install-gateway.sh"), "--root", str(built), "--python",
                              "/usr/bin/python3", "--pip-args", "--no-deps"], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "project.license" not in install.stderr  # no setuptools deprecation boxes while installing
    naming = [str(p) for p in (built / "opt/vigil/venv").rglob("*") if p.is_file() and p.suffix != ".pyc"
              and str(built).encode() in p.read_bytes()]
    assert naming == []  # shebangs, activate scripts and pyvenv.cfg name /opt/vigil/venv (.pyc: see importlib)
    built.rename(moved_root)  # the image, copied to the gateway's / (here: another path)
    root = moved_root

    config = root / "etc/vigil/vigil.toml"
    group = next(line.split(":") for line in (root / "etc/group").read_text().splitlines()
                 if line.startswith("vigil:"))
    user = next(line.split(":") for line in (root / "etc/passwd").read_text().splitlines()
                if line.startswith("vigil:"))
    uid, gid = int(user[2]), int(group[2])
    assert config.stat().st_gid == gid and config.stat().st_mode & 0o040  # the service's group reads it
    assert not config.stat().st_mode & 0o004  # others do not (it may hold MQTT credentials)
    for name in ("pump", "ecg-donut"):  # the bundles the template names
        assert (root / "opt/vigil/bundles" / name / "manifest.json").is_file()

    # dependencies: this test's venv, seen through a .pth file (the installer ran with --no-deps)
    deps = Path(sysconfig.get_paths()["purelib"])
    site = next((root / "opt/vigil/venv/lib").glob("python3*/site-packages"))
    (site / "zz_test_deps.pth").write_text(f"{deps}\n")

    unit = (root / "etc/systemd/system/vigil.service").read_text()
    exec_start, state = _unit_value(unit, "ExecStart"), "/var/lib/" + _unit_value(unit, "StateDirectory")
    (root / state.lstrip("/")).mkdir(parents=True)
    os.chown(root / state.lstrip("/"), uid, gid)  # systemd makes StateDirectory= the user's
    notify_dir = root / "run/notify"
    notify_dir.mkdir(parents=True)
    os.chown(notify_dir, uid, gid)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_dir / "sock"))
    os.chmod(notify_dir / "sock", 0o777)
    sock.settimeout(0.2)

    mounts = []
    for top in ("usr", "bin", "sbin", "lib", "lib64", "dev", "proc"):
        host = Path("/", top)
        if host.is_symlink():
            (root / top).symlink_to(os.readlink(host))
        elif host.is_dir():
            (root / top).mkdir(exist_ok=True)
            mounts.append(f"mount --bind /{top} {root / top}")
    inner = root / str(deps).lstrip("/")  # the deps venv at its host path (the .pth file names it)
    inner.mkdir(parents=True, exist_ok=True)
    mounts.append(f"mount --bind {shlex.quote(str(deps))} {shlex.quote(str(inner))}")
    env = (f"env -i PATH=/usr/bin:/bin HOME={state} NOTIFY_SOCKET=/run/notify/sock STATE_DIRECTORY={state} "
           "PYTHONUNBUFFERED=1 WATCHDOG_USEC=2000000")
    inner_cmd = f"cd {state} && exec {env} {exec_start}"
    script = " && ".join([*mounts, f"exec chroot --userspec={uid}:{gid} {root} /bin/sh -c {shlex.quote(inner_cmd)}"])
    starts_peer("unshare and chroot")
    proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                messages += sock.recv(4096).decode().splitlines()
            except TimeoutError:
                continue
            if "READY=1" in messages and "WATCHDOG=1" in messages:  # no stream: the process itself is watched
                break
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        sock.close()
    assert "READY=1" in messages, f"no READY=1 from {exec_start} (exit {proc.returncode}):\n{err[-3000:]}"
    assert "PermissionError" not in err and "bundle" not in err.lower(), err[-3000:]
    assert "WATCHDOG=1" in messages[messages.index("READY=1"):], messages
    status = next(m for m in messages if m.startswith("STATUS=") and "no streams configured" in m)
    assert "/etc/vigil/vigil.toml" in status and "vigil devices" in status


def test_installer_deploys_the_bundles_it_is_given(target_root: Path, tmp_path: Path) -> None:
    """--bundles DIR: each DIR/NAME/manifest.json folder is deployed; a folder without one is refused."""
    root = target_root
    (root / "etc").mkdir()
    mine = tmp_path / "mine"
    shutil.copytree(ROOT / "edge/data/bundles/fan", mine / "press-7")
    script = str(ROOT / "scripts/install-gateway.sh")
    empty = subprocess.run(["bash", script, "--root", str(root), "--dry-run", "--bundles", str(tmp_path / "none")],
                           capture_output=True, text=True)
    assert empty.returncode == 2 and "holds no bundle folders" in empty.stderr
    dry = subprocess.run(["bash", script, "--root", str(root), "--dry-run", "--bundles", str(mine)],
                         capture_output=True, text=True, check=True)
    assert f"would: write {root}/opt/vigil/bundles/press-7/manifest.json" in dry.stdout
    assert "bundles/pump" not in dry.stdout


def _installed_venv(root: Path) -> None:
    """Mark the venv current, as a finished install does, so that the installer skips pip."""
    stamp = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    venv = root / "opt/vigil/venv"
    venv.mkdir(parents=True)
    (venv / f".vigil-{stamp}").touch()


def test_installer_writes_every_stream_commented_out(target_root: Path) -> None:
    """The config holds no stream (the service starts and says so); uncommented, it is the template."""
    root = target_root
    (root / "etc").mkdir()
    _installed_venv(root)
    subprocess.run(["bash", str(ROOT / "scripts/install-gateway.sh"), "--root", str(root)], capture_output=True,
                   text=True, check=True)
    written = (root / "etc/vigil/vigil.toml").read_text()
    assert load_config(root / "etc/vigil/vigil.toml").streams == ()
    assert "`vigil devices`" in written
    template = (ROOT / "edge/data/example.toml").read_text()
    kept = template[:template.index("[[streams]]")]
    assert written.startswith(kept)  # the gateway and sink tables as in the template
    streams = template[template.index("[[streams]]"):]
    lines = written[len(kept):].splitlines()
    first = lines.index("# " + streams.splitlines()[0])  # after the note on filling them in
    tables = "\n".join(line[2:] if line.startswith("# ") else line[1:] for line in lines[first:])
    not_deployed = [line for line in tables.splitlines() if line.startswith("# not deployed here")]
    assert len(not_deployed) == 2  # rr-donut and polar-ecg are trained by the user, not packaged
    uncommented = "\n".join(line for line in tables.splitlines() if not line.startswith("# not deployed here"))
    assert uncommented.strip() == streams.strip()


def test_installer_installs_the_missing_system_packages(target_root: Path) -> None:
    """PortAudio and BlueZ are checked in the target's dpkg database; a missing one is installed, with why."""
    root = target_root
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(
        "Package: libportaudio2\nStatus: install ok installed\nArchitecture: arm64\nVersion: 19.6.0-1.2\n\n"
        "Package: bluez\nStatus: deinstall ok config-files\nArchitecture: arm64\nVersion: 5.66-1\n\n")
    dry = subprocess.run(["bash", str(ROOT / "scripts/install-gateway.sh"), "--root", str(root), "--dry-run"],
                         capture_output=True, text=True, check=True)
    assert "present: libportaudio2" in dry.stdout
    assert "needed: bluez (bluetoothd, which bleak talks to over D-Bus for the BLE streams)" in dry.stdout
    assert f"would: install bluez with apt-get in a chroot of {root}" in dry.stdout
    assert "libportaudio2 with apt-get" not in dry.stdout
    failed = subprocess.run(["bash", str(ROOT / "scripts/install-gateway.sh"), "--root", str(root)],
                            capture_output=True, text=True)  # this tree has no apt-get to chroot into
    assert failed.returncode == 1 and not (root / "opt").exists()  # stops before installing anything
    assert failed.stderr.splitlines()[-1].startswith("install-gateway.sh: apt-get could not install bluez (")
    (root / "var/lib/dpkg/status").unlink()  # a bare tree: said, not guessed
    bare = subprocess.run(["bash", str(ROOT / "scripts/install-gateway.sh"), "--root", str(root), "--dry-run"],
                          capture_output=True, text=True, check=True)
    assert "skipped: system packages libportaudio2 bluez" in bare.stdout and "apt-get" not in bare.stdout


def test_installer_adds_an_address_filter_only_when_asked(target_root: Path) -> None:
    """No IPAddressDeny= by default (a cloud or IPv6 broker must be reachable); --ip-allow writes a drop-in."""
    root = target_root
    (root / "etc").mkdir()
    _installed_venv(root)
    script = str(ROOT / "scripts/install-gateway.sh")
    plain = subprocess.run(["bash", script, "--root", str(root)], capture_output=True, text=True, check=True)
    unit = (root / "etc/systemd/system/vigil.service").read_text()
    dropin = root / "etc/systemd/system/vigil.service.d/ip-allow.conf"
    assert "IPAddress" not in unit and not dropin.exists()
    assert "address filter: none (the service may reach any address" in plain.stdout
    allow = subprocess.run(["bash", script, "--root", str(root), "--ip-allow", "192.168.0.0/16 fd00::/8"],
                           capture_output=True, text=True, check=True)
    rule = dropin.read_text()
    assert "IPAddressDeny=any\nIPAddressAllow=localhost 192.168.0.0/16 fd00::/8\n" in rule
    assert "may reach loopback and 192.168.0.0/16 fd00::/8 only" in allow.stdout
    again = subprocess.run(["bash", script, "--root", str(root)], capture_output=True, text=True, check=True)
    assert dropin.read_text() == rule and "kept:" in again.stdout  # a re-run keeps the owner's filter
    bad = subprocess.run(["bash", script, "--root", str(root), "--ip-allow", "broker.example.com"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "broker.example.com is not an address" in bad.stderr
