"""The docs say what the tests cost and what test.sh installs with apt; README stays a README."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT


def test_development_doc_names_every_apt_package_test_sh_installs() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    doc = (ROOT / "docs" / "development.md").read_text()
    packages = {p for group in re.findall(r'need "([a-z0-9 .+-]+)"', script) for p in group.split()}
    assert {"mosquitto", "pulseaudio", "gcc", "dbus-daemon"} <= packages
    assert all(f"{p}" in doc for p in packages), sorted(p for p in packages if p not in doc)
    assert "about a minute" not in doc and re.search(r"pytest took \d+ min", doc)  # a measured duration
    assert "installing with apt-get" in script  # test.sh says what it installs, and why


def _local_links(doc: Path) -> list[tuple[str, str]]:
    """(target, anchor) of a Markdown file's relative links; the anchor is "" when there is none."""
    found = re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", doc.read_text())
    return [(t or doc.name, a) for t, a in found if "://" not in t]


def _anchors(doc: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces as hyphens."""
    heads = re.findall(r"^#+ (.+)$", doc.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_readme_is_short_and_points_to_docs_and_reports() -> None:
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 260
    links = [t for t, _ in _local_links(readme)]
    assert {"docs/architecture.md", "docs/gateway.md", "docs/training.md", "docs/fetal-ecg.md",
            "docs/development.md", "reports/README.md", "DEVELOPERS.md"} <= set(links)


def test_every_link_of_the_docs_resolves() -> None:
    docs = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *(ROOT / "docs").glob("*.md"),
            *(ROOT / "reports").rglob("README.md")]
    broken = [f"{d.relative_to(ROOT)} -> {t}#{a}" for d in docs for t, a in _local_links(d)
              if not (d.parent / t).exists() or (a and a not in _anchors(d.parent / t))]
    assert broken == []


def test_docs_and_reports_speak_of_the_project_not_its_history() -> None:
    files = [ROOT / "README.md", ROOT / "DEVELOPERS.md", *(ROOT / "docs").rglob("*.md"),
             *(ROOT / "reports").rglob("*.md")]
    history = re.compile(r"stop [0-9]|issue [0-9]|issues? #", re.IGNORECASE)
    assert [f"{f.relative_to(ROOT)}: {m.group()}" for f in files for m in history.finditer(f.read_text())] == []
