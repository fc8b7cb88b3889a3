"""`vigil evaluate --bundle DONUT_BUNDLE FILE...`: point metrics and the write-up's plots.

Labels: a KPI CSV's label column, or NAB's label windows (`--labels combined_windows.json`: the
windows of the key ending with the file's folder/name, or its name); for EDF, the write-up's rule
(|x| >= the bundle's label threshold after block averaging), or with --inject-seed the seeded synthetic anomalies of
train.ecg_inject (then AUC is also given per anomaly kind).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import load_bundle
from edge.io.kpi_csv import KpiColumns
from edge.pipeline.series_scorer import Series, donut_scorer, load_series, score_series
from train.injected_series import injected_test_series, per_kind_auc
from train.modalities.base import training_for
from train.modalities.series_training import SeriesTraining
from train.series_checks import window_labels
from train.series_metrics import point_metrics, segments


def _plot(path: Path, series: Series, scores: np.ndarray, threshold: float, title: str, seconds: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(series.values.size) * seconds
    flagged = scores > threshold
    fig, ax = plt.subplots(figsize=(11, 3.2))
    ax.plot(t, series.values, color="0.75", linewidth=0.6)
    ax.scatter(t[~flagged], series.values[~flagged], s=2, color="tab:green", label="normal")
    ax.scatter(t[flagged], series.values[flagged], s=4, color="tab:red", label="anomalous (score > threshold)")
    for a, b in segments(series.labels):
        ax.axvspan(t[a], t[min(b, t.size - 1)], color="orange", alpha=0.15, linewidth=0)
    ax.set(xlabel="time (s)" if seconds != 1 else "point", ylabel="value", title=title)
    ax.title.set_fontsize(9)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate_series(bundle_path: Path, files: list[Path], report: Path, *, inject_seed: int | None = None,
                    samples: int | None = None, iterations: int | None = None,
                    labels: dict[Path, list[tuple[int, int]]] | None = None,
                    columns: KpiColumns | None = None) -> dict[str, Any]:
    """Score each file with every variant; labels: the CSV's column, the EDF rule, injected anomalies,
    or NAB windows (epoch seconds) per file. columns: a KPI CSV's columns (edge.io.kpi_csv.KpiColumns)."""
    bundle = load_bundle(bundle_path)
    spec = bundle.ecg_spec
    training = training_for(bundle.modality)
    assert isinstance(training, SeriesTraining), "a Donut bundle is of a point-series modality"
    report.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"bundle": str(bundle_path), "labels": "injected" if inject_seed is not None else
                              ("nab windows" if labels else training.labels), "files": {}}
    lines = [f"# Evaluation of {bundle.name}", "", f"Labels: {result['labels']}. Delayed-segment adjustment: 7 points.",
             "", "| file | variant | points | anomalous | AUC | best F1 | best F1 (adjusted) | F1 at threshold "
             "| F1 at threshold (adjusted) |", "|---|---|---|---|---|---|---|---|---|"]
    for path in files:
        kinds = None
        if inject_seed is not None and training.injectable:
            series, kinds = injected_test_series(path, spec, inject_seed)
        else:
            series = load_series(path, spec, bundle.modality, columns)
            if labels is not None:
                series = replace(series, labels=window_labels(series.position, labels[path]))
        entry: dict[str, Any] = {}
        for variant in bundle.variants:
            scores = score_series(bundle, donut_scorer(bundle, variant, samples=samples, iterations=iterations), series)
            threshold = bundle.variant(variant).window_threshold
            m = point_metrics(scores, series.labels & ~series.missing, threshold)
            if kinds is not None:
                m["per_kind_auc"] = per_kind_auc(scores, kinds, series.missing)
            entry[variant] = m
            fmt = {k: "n/a" if m.get(k) is None else f"{m[k]:.3f}" for k in
                   ("auc", "best_f1", "best_f1_adjusted", "f1_at_threshold", "f1_at_threshold_adjusted")}
            lines.append(f"| {path.name} | {variant} | {m['points']} | {m['anomalous_points']} | {fmt['auc']} | "
                         f"{fmt['best_f1']} | {fmt['best_f1_adjusted']} | {fmt['f1_at_threshold']} | "
                         f"{fmt['f1_at_threshold_adjusted']} |")
            png = f"{path.stem}_{variant}.png"
            title = f"{path.name} ({variant}): points over the threshold in red, true anomalies shaded"
            _plot(report / png, series, scores, threshold, title,
                  spec.point_seconds if training.timed_points else 1.0)
        result["files"][path.name] = entry
        lines += ["", *[f"![{path.name} {v}]({path.stem}_{v}.png)" for v in bundle.variants], ""]
    (report / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    (report / "report.md").write_text("\n".join(lines) + "\n")
    return result
