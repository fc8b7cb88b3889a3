"""Events per hour on clean fetal-ECG recordings, before and after the event rule, beside the injected AUCs.

Usage: .venv/bin/python -m benchmarks.ecg_clean_events [--data ../shared/data] [--epochs 256] [--only donut|fetal]
       [--quality-on-frames 5]

Donut on Direct_1 (the default ECG stream's detector), adfecgdb leave-one-record-out: for each record,
Donut is trained on the other four (as `python -m benchmarks.donut_benchmarks --only ecg` does), its
threshold and debounce come from that model's own validation scores (train.ecg_event_rule), and the held-out
record is scored twice on the gateway path (int8): clean, and with the seeded injected anomalies of
train.ecg_inject (seed = the record's index, 1 % seeded missing points; train.injected_series). Printed per
record and pooled: clean events (count, per hour, the 95 % Poisson upper bound of the rate), the injected
AUC per kind (threshold-free: the rule does not move it), and per kind the injected episodes an event
overlaps, with the events on the injected records that overlap none. Then a nested choice: for each held-out
record, the rule of a small grid with no clean event on the other four that finds the most motion and wander
episodes there (then the fewest points to open, the lowest margin) is scored on the held-out record.

The fetal stage (quality and FHR events on the abdominal leads, edge.fetal.chain): every event it emits,
by kind, on the clean abdominal recordings: adfecgdb (Abdomen_1..4), cinc2013-set-a-dev (assumed free of
fetal anomalies: the Challenge gives no rhythm labels) and fecg-tokarev (no labels; assumed normal). Whatever
kinds the chain emits are counted, so CTG events join the table once the chain raises them.
--quality-on-frames: its quality events opened only after that many 0.1 s frames over the threshold (the
manifest's ``fetal.quality_on_frames``; 100 by default); its quality events are also counted under the rule
before (BEFORE_FETAL: 5 frames to open, 10 to close, every kind, no pause bridged), on the same judged frames.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

from edge.bundle.loader import load_bundle
from edge.bundle.manifest_parts import FetalSettings
from edge.commands.scoring import pin_to_one_core
from edge.features.ecg import EcgSpec
from edge.fetal.quality import KINDS as QUALITY_KINDS
from edge.fetal.quality import QualityConfig
from edge.pipeline.decider import Decider, Event
from edge.pipeline.series_scorer import donut_scorer, ecg_series, score_series
from train.donut import DonutConfig
from train.donut_bundle import train_donut_bundle
from train.ecg_event_rule import BEFORE, SHIPPED, EventRule, validation_scores
from train.ecg_inject import KINDS
from train.injected_series import injected_test_series, per_kind_auc

ROOT = Path(__file__).resolve().parents[1]
FOUND_KINDS = ("motion", "wander")  # the kinds Donut ranks above chance (reports/fetal-ecg/README.md)
GRID = [EventRule(p, m, on, 3) for p in (99.0, 99.9) for m in (1.0, 1.25, 1.5, 2.0) for on in (3, 5, 8, 12, 17, 25)]


def upper_rate(events: int, hours: float, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound of a Poisson rate (per hour) after `events` in `hours`."""
    return float(scipy.stats.chi2.ppf(confidence, 2 * events + 2) / 2 / hours)


def decide(scores: np.ndarray, threshold: float, rule: EventRule, point_s: float) -> list[Event]:
    """The Decider over the scored points (NaN: unscored, skipped as the demo skips them) of one record."""
    scored = ~np.isnan(scores)
    decider = Decider(threshold, on_windows=rule.on_points, off_windows=rule.off_points)
    return decider.update(scores[scored], np.flatnonzero(scored) * point_s, point_s) + decider.flush()


def episodes(kinds: np.ndarray, point_s: float) -> list[tuple[str, float, float]]:
    """(kind, start s, end s) of each injected episode, from the per-point kinds (n,) (0 = normal)."""
    out = []
    for i, kind in enumerate(KINDS, start=1):
        edges = np.flatnonzero(np.diff(np.r_[0, (kinds == i).astype(np.int8), 0]))
        out += [(kind, a * point_s, b * point_s) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return out


def overlap(event: Event, start_s: float, end_s: float) -> bool:
    return event.start_s < end_s and event.end_s > start_s


def judge(fold: dict[str, Any], rule: EventRule, point_s: float) -> dict[str, Any]:
    """One record under one rule: clean events, and per kind the injected episodes found."""
    threshold = rule.threshold(fold["validation"])
    clean = decide(fold["clean"], threshold, rule, point_s)
    injected = decide(fold["injected"], threshold, rule, point_s)
    found = Counter(kind for kind, a, b in fold["episodes"] if any(overlap(e, a, b) for e in injected))
    stray = sum(not any(overlap(e, a, b) for _, a, b in fold["episodes"]) for e in injected)
    return {"threshold": threshold, "clean_events": len(clean), "found": dict(found), "stray_injected_events": stray}


def donut_folds(records: list[Path], config: DonutConfig, spec: EcgSpec) -> dict[str, dict[str, Any]]:
    """Per held-out record: clean and injected scores (int8), the injected episodes, the fold's validation scores."""
    out = {}
    for index, test_path in enumerate(records):
        train = [ecg_series(p, spec) for p in records if p != test_path]
        clean = ecg_series(test_path, spec)
        injected, kinds = injected_test_series(test_path, spec, seed=index)
        with tempfile.TemporaryDirectory() as tmp:
            train_donut_bundle(train, spec, "ecg", Path(tmp) / "b", config)
            bundle = load_bundle(Path(tmp) / "b")
            detector = donut_scorer(bundle, "int8")
            injected_scores = score_series(bundle, detector, injected)
            out[test_path.stem] = {
                "clean": score_series(bundle, detector, clean), "injected": injected_scores,
                "validation": validation_scores(bundle, train, "int8"), "episodes": episodes(kinds, spec.point_seconds),
                "auc": per_kind_auc(injected_scores, kinds, injected.missing),
                "hours": clean.values.size * spec.point_seconds / 3600}
        print(f"  trained without {test_path.stem}", flush=True)
    return out


def fmt_rule(rule: EventRule) -> str:
    return f"{rule.margin:g} x p{rule.percentile:g}, {rule.on_points} on / {rule.off_points} off"


def donut_tables(folds: dict[str, dict[str, Any]], point_s: float) -> list[str]:
    """Clean events before/after per record and pooled, injected AUC and episodes found per kind, nested choice."""
    hours = sum(f["hours"] for f in folds.values())
    lines = [f"Donut on Direct_1, leave-one-record-out: before = {fmt_rule(BEFORE)}; after = {fmt_rule(SHIPPED)}", "",
             "| held-out record | clean min | threshold before / after | clean events before | per hour "
             "| clean events after | per hour |", "|---|---|---|---|---|---|---|"]
    totals = {"before": 0, "after": 0}
    judged = {name: {r: judge(f, rule, point_s) for r, f in folds.items()} for name, rule in
              (("before", BEFORE), ("after", SHIPPED))}
    for r, f in folds.items():
        b, a = judged["before"][r], judged["after"][r]
        totals["before"] += b["clean_events"]
        totals["after"] += a["clean_events"]
        lines.append(f"| {r} | {f['hours'] * 60:.1f} | {b['threshold']:.2f} / {a['threshold']:.2f} | "
                     f"{b['clean_events']} | {b['clean_events'] / f['hours']:.0f} | {a['clean_events']} | "
                     f"{a['clean_events'] / f['hours']:.1f} |")
    lines.append(f"| pooled | {hours * 60:.1f} | | {totals['before']} | {totals['before'] / hours:.0f} "
                 f"(95 % upper {upper_rate(totals['before'], hours):.0f}) | {totals['after']} | "
                 f"{totals['after'] / hours:.1f} (95 % upper {upper_rate(totals['after'], hours):.1f}) |")
    lines += ["", "Injected anomalies (27 episodes per record, 3 per kind; AUC of the points, mean over the records, "
              "the same before and after: the rule does not change the scores), and episodes an event overlaps:", "",
              "| kind | AUC int8 | episodes | found before | found after |", "|---|---|---|---|---|"]
    for kind in KINDS:
        aucs = [f["auc"][kind] for f in folds.values() if f["auc"][kind] is not None]
        total = sum(sum(k == kind for k, _, _ in f["episodes"]) for f in folds.values())
        found = {n: sum(j[r]["found"].get(kind, 0) for r in folds) for n, j in judged.items()}
        lines.append(f"| {kind} | {np.mean(aucs):.3f} | {total} | {found['before']} | {found['after']} |")
    stray = {n: sum(j[r]["stray_injected_events"] for r in folds) for n, j in judged.items()}
    lines += ["", f"Events on the injected records overlapping no episode: before {stray['before']}, after "
              f"{stray['after']}.", "", "Nested choice (grid of margin x p99 / p99.9 and points to open; "
              "chosen on the other four records, scored on the held-out one):", "",
              "| held-out record | rule chosen on the other four | clean events | motion / wander found |",
              "|---|---|---|---|"]
    results = {(r, g): judge(f, g, point_s) for r, f in folds.items() for g in GRID}
    nested = 0
    for r in folds:
        others = [o for o in folds if o != r]
        quiet = [g for g in GRID if all(results[(o, g)]["clean_events"] == 0 for o in others)]
        if not quiet:
            lines.append(f"| {r} | none quiet on the other four | | |")
            continue
        g = max(quiet, key=lambda g: (sum(results[(o, g)]["found"].get(k, 0) for o in others for k in FOUND_KINDS),
                                      -g.on_points, -g.margin))
        res = results[(r, g)]
        nested += res["clean_events"]
        lines.append(f"| {r} | {fmt_rule(g)} | {res['clean_events']} | "
                     + " / ".join(str(res["found"].get(k, 0)) for k in FOUND_KINDS) + " |")
    lines.append(f"| pooled | | {nested} in {hours * 60:.0f} min (95 % upper {upper_rate(nested, hours):.1f} "
                 "per hour) | |")
    return lines


def clean_recordings(data: Path) -> list[tuple[str, str, Any]]:
    """(set, name, opener) of the clean abdominal recordings; opener() -> (fs, labels, blocks factory)."""
    from edge.io.multilead import open_leads

    def leads(path: Path) -> Any:
        def opener() -> tuple[float, tuple[str, ...], Any]:
            rec = open_leads(path)
            return rec.fs, rec.labels, lambda: rec.blocks(round(rec.fs))
        return opener

    def tokarev(path: Path) -> Any:
        def opener() -> tuple[float, tuple[str, ...], Any]:
            from scipy.io import loadmat

            m = loadmat(path)
            x, fs = np.asarray(m["s"], dtype=np.float64).T, float(np.ravel(m["fs"])[0])
            step = round(fs)
            return fs, tuple(f"Abdomen_{i + 1}" for i in range(x.shape[1])), \
                lambda: (x[i : i + step] for i in range(0, x.shape[0], step))
        return opener

    out = [("adfecgdb", p.stem, leads(p)) for p in sorted((data / "adfecgdb").glob("r*.edf"))]
    out += [("cinc2013-set-a-dev", p.stem, leads(p.with_suffix(""))) for p in
            sorted((data / "cinc2013-set-a-dev").glob("a*.hea"))]
    out += [("fecg-tokarev", p.stem, tokarev(p)) for p in sorted((data / "fecg-tokarev").glob("signal_*.mat"))]
    return out


BEFORE_FETAL = FetalSettings(quality_on_frames=5, quality_off_frames=10, quality_event_kinds=QUALITY_KINDS,
                             quality_gap_frames=0)


def fetal_events(opener: Any, settings: FetalSettings) -> tuple[float, Counter[str], np.ndarray, np.ndarray]:
    """A recording through the fetal chain as a file stream runs it (primed): its seconds, its events by kind, and
    its judged quality frames: start times (f,) s and overall (worst lead) scores (f, len(KINDS))."""
    from edge.fetal.chain import FetalChain

    fs, labels, blocks = opener()
    chain = FetalChain(fs, labels, settings=settings)
    chain.prime(blocks())
    events: list[Event] = []
    times, scores = [], []
    samples = 0

    def keep(out: Any) -> None:
        events.extend(out.events)
        if out.frame_scores is not None:
            times.append(out.frame_times)
            scores.append(out.frame_scores.max(axis=2))

    for block in blocks():
        samples += block.shape[0]
        keep(chain.push(block))
    keep(chain.finish())
    return samples / fs, Counter(e.detector for e in events), np.concatenate(times), np.concatenate(scores)


def quality_counts(times: np.ndarray, overall: np.ndarray, settings: FetalSettings) -> Counter[str]:
    """The quality events the chain's deciders (edge.fetal.chain.quality_deciders) raise on judged frames."""
    from edge.fetal.chain import quality_deciders

    hop_s = float(np.median(np.diff(times))) if times.size > 1 else 0.1
    out: Counter[str] = Counter()
    for kind, decider in quality_deciders(settings, QualityConfig()).items():
        column = overall[:, QUALITY_KINDS.index(kind)]
        out[decider.detector] += len(decider.update(column, times, hop_s) + decider.flush())
    return out


def fetal_tables(data: Path, settings: FetalSettings) -> list[str]:
    """Events of the fetal chain on the clean abdominal recordings, per record, per set and per kind: its quality
    events under the rule before (BEFORE_FETAL) and under ``settings``, its FHR events."""
    rows = []
    for group, name, opener in clean_recordings(data):
        seconds, every, times, overall = fetal_events(opener, settings)
        fhr = Counter({k: n for k, n in every.items() if k.removeprefix("fetal-") not in QUALITY_KINDS})
        rows.append((group, name, seconds, fhr, quality_counts(times, overall, BEFORE_FETAL),
                     quality_counts(times, overall, settings)))
        assert quality_counts(times, overall, settings) + fhr == every, (name, every)  # the chain's own count
    kinds = sorted({k for *_, f, b, _a in rows for k in (*f, *b)})
    lines = [f"Fetal stage on clean abdominal recordings: quality events before ({BEFORE_FETAL.quality_on_frames} "
             f"frames of 0.1 s to open, {BEFORE_FETAL.quality_off_frames} to close, every kind) / after "
             f"({settings.quality_on_frames} to open, {settings.quality_off_frames} to close, "
             f"{', '.join(settings.quality_event_kinds)}); FHR events:", "",
             "| set | record | s | " + " | ".join(k.removeprefix("fetal-") for k in kinds) + " | all |",
             "|---|---|---|" + "---|" * (len(kinds) + 1)]
    for group, name, seconds, f, b, a in rows:
        cells = [f"{b.get(k, 0)} / {a.get(k, 0)}" if k.removeprefix("fetal-") in QUALITY_KINDS else str(f.get(k, 0))
                 for k in kinds]
        lines.append(f"| {group} | {name} | {seconds:.0f} | " + " | ".join(cells)
                     + f" | {sum((b + f).values())} / {sum((a + f).values())} |")
    lines += ["", "| set | records | hours | quality before | per hour (95 % upper) | quality after | per hour "
              "(95 % upper) | FHR events | per hour (95 % upper) |", "|---|---|---|---|---|---|---|---|---|"]
    for group in [*dict.fromkeys(g for g, *_ in rows), "all"]:
        mine = [r for r in rows if group in ("all", r[0])]
        hours = sum(r[2] for r in mine) / 3600
        cells = []
        for column in (4, 5, 3):
            n = sum(sum(r[column].values()) for r in mine)
            cells.append(f"{n} | {n / hours:.1f} ({upper_rate(n, hours):.1f})")
        lines.append(f"| {group} | {len(mine)} | {hours:.2f} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data")
    parser.add_argument("--epochs", type=int, default=256)
    parser.add_argument("--only", choices=("donut", "fetal"))
    parser.add_argument("--quality-on-frames", type=int, default=FetalSettings().quality_on_frames,
                        help="the fetal stage's quality frames (0.1 s) over the threshold to open an event")
    args = parser.parse_args()
    pin_to_one_core()
    if args.only != "fetal":
        spec = EcgSpec()
        folds = donut_folds(sorted((args.data / "adfecgdb").glob("r*.edf")), DonutConfig(max_epochs=args.epochs), spec)
        print("\n".join(donut_tables(folds, spec.point_seconds)) + "\n")
    if args.only != "donut":
        print("\n".join(fetal_tables(args.data, replace(FetalSettings(), quality_on_frames=args.quality_on_frames))))


if __name__ == "__main__":
    main()
