"""README says what the tests cost and what test.sh installs with apt (issue 10, item 16)."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_readme_names_every_apt_package_test_sh_installs() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    packages = {p for group in re.findall(r'need "([a-z0-9 .+-]+)"', script) for p in group.split()}
    assert {"mosquitto", "pulseaudio", "gcc", "dbus-daemon"} <= packages
    assert all(f"{p}" in readme for p in packages), sorted(p for p in packages if p not in readme)
    assert "about a minute" not in readme and re.search(r"pytest took \d+ min", readme)  # a measured duration
    assert "installing with apt-get" in script  # test.sh says what it installs, and why
