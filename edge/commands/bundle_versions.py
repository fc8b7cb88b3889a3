"""`vigil bundle history BUNDLE` and `vigil bundle rollback BUNDLE [--to VERSION]`: a bundle's versions.

A learning period (edge.learn) writes each new version at the bundle's path and keeps the one it
replaced in BUNDLE.history/ (layout: edge.learn.versions). History lists them, newest first; rollback
makes an earlier one current again in one atomic exchange, keeping the current one in the history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge.learn.versions import describe, history_dir, rollback, versions


def history_rows(bundle: Path) -> list[dict[str, Any]]:
    """Every version of the bundle (the current one first, then the kept ones, newest first)."""
    current, kept = versions(bundle)
    return [describe(current, True)] + [describe(b, False) for _, b in sorted(kept.items(), reverse=True)]


def _line(row: dict[str, Any]) -> str:
    thresholds = ", ".join(f"{v} window {t['window']:.4g}" + (f" clip {t['clip']:.4g}" if "clip" in t else "")
                           for v, t in row["thresholds"].items())
    windows = "?" if row["windows"] is None else row["windows"]
    mark = "*" if row["current"] else " "
    when = row['when'] or '?'
    return f"{mark} {row['version']:>3}  {when:20s}  {row['how']:10s}  {windows!s:>6} windows  {thresholds}"


def run(args: Any) -> int:
    if args.action == "rollback":
        left, restored = rollback(args.bundle, args.to)
        print(f"{args.bundle}: version {restored} is current again; version {left} kept in {history_dir(args.bundle)}")
        return 0
    rows = history_rows(args.bundle)
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{args.bundle} (* current; earlier versions in {history_dir(args.bundle)})")
    print("  version  when                  how         windows used  thresholds")
    for row in rows:
        print(_line(row))
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bundle", help="a bundle's versions: history, rollback (a learning period adds versions)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    h = actions.add_parser("history", help="list the bundle's versions: when, how made (trained, calibrated, "
                           "learned), windows used, thresholds")
    h.add_argument("bundle", type=Path, metavar="BUNDLE")
    h.add_argument("--json", action="store_true", help="one JSON list, the current version first")
    r = actions.add_parser("rollback", help="make an earlier version current again (atomic; the current one is kept)")
    r.add_argument("bundle", type=Path, metavar="BUNDLE")
    r.add_argument("--to", type=int, metavar="VERSION", help="the version to restore (default: the one before the "
                   "current)")
    for q in (h, r):
        q.set_defaults(func=run)
