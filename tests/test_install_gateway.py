"""After `install-gateway.sh`, the service starts: the installed unit's ExecStart, run as the user
`vigil` against the installed config, in a temporary root, reaches READY=1.

The temporary root is entered with chroot inside a private mount namespace: the host's /usr (and
its merged /bin, /lib) is bind-mounted, nothing else of the host is visible. Two liberties, both
test scaffolding: the venv's dependencies come from this test's own venv (a .pth file; the
installer runs with --no-deps so nothing is downloaded), and the root is also mounted at its own
host path inside itself, because a venv made under --root DIR names DIR in its scripts' shebangs.
"""

from __future__ import annotations

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

from tests.conftest import ROOT, starts_peer


def _unit_value(unit: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}="))


@pytest.fixture()
def target_root() -> Iterator[Path]:
    # not under pytest's tmp_path: its base is 0700, and the service user must traverse the root
    path = Path(tempfile.mkdtemp(prefix="vigil-root-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.peer  # unshare and chroot
def test_installed_service_starts_as_its_user(target_root: Path) -> None:
    for tool in ("unshare", "chroot", "useradd", "/usr/bin/python3"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: the install test needs it")
    root = target_root
    (root / "etc").mkdir()
    for name in ("passwd", "group", "shadow", "gshadow", "hosts", "nsswitch.conf"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), root / "etc" / name)
    install = subprocess.run(["bash", str(ROOT / "scripts/install-gateway.sh"), "--root", str(root), "--python",
                              "/usr/bin/python3", "--pip-args", "--no-deps"], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "project.license" not in install.stderr  # no setuptools deprecation boxes while installing

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
    for path in (deps, root):  # the deps venv, and the root at its own host path (shebangs name it)
        inner = root / str(path).lstrip("/")
        inner.mkdir(parents=True, exist_ok=True)
        mounts.append(f"mount --bind {shlex.quote(str(path))} {shlex.quote(str(inner))}")
    env = (f"env -i PATH=/usr/bin:/bin HOME={state} NOTIFY_SOCKET=/run/notify/sock STATE_DIRECTORY={state} "
           "PYTHONUNBUFFERED=1")
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
            if "READY=1" in messages:
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
