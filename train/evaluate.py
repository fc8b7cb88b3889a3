"""`vigil evaluate`: score clips with a bundle's variants and write a short report.

Clips the bundle was fitted on or chose its threshold with (matched by sha256 from its
provenance) are left out, so the figures are on unseen clips only.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import load_bundle
from edge.errors import InputFileError
from train.audio import score_clips
from train.dataset import MACHINE_TYPES, discover_clips
from train.metrics import clip_metrics


def evaluate_audio(bundle_path: Path, data_dir: Path, report_dir: Path, machine_type: str | None = None,
                   ) -> dict[str, Any]:
    """Evaluate every variant of an audio bundle on the unseen clips of data_dir; write report_dir."""
    bundle = load_bundle(bundle_path)
    if machine_type is None and bundle.manifest.machine_type in MACHINE_TYPES:  # not "unknown": a plain folder's
        machine_type = bundle.manifest.machine_type
    clips = discover_clips(data_dir, machine_type)
    prov = bundle.manifest.provenance
    seen = {f["sha256"] for key in ("fit_files", "threshold_files") for f in prov.get(key, [])}
    unseen = [c for c in clips if c.sha256() not in seen]
    labels = np.array([c.label for c in unseen])
    if not 0 < labels.sum() < labels.size:
        raise InputFileError(
            f"{data_dir}: {int((labels == 0).sum())} normal and {int(labels.sum())} anomalous unseen clips"
            f"{' of type ' + machine_type if machine_type else ''}; expected at least one of each "
            f"({len(clips) - len(unseen)} clips were used in training and are left out)"
        )
    result: dict[str, Any] = {"bundle": str(bundle_path), "machine_type": machine_type, "data_dir": str(data_dir),
                              "left_out_seen_clips": len(clips) - len(unseen), "variants": {}}
    scores = {}
    for name, variant in bundle.variants.items():
        scores[name] = score_clips(bundle_path, name, unseen)
        result["variants"][name] = clip_metrics(labels, scores[name], variant.clip_threshold)
        result["variants"][name]["model_bytes"] = sum(p.stat().st_size for p in variant.paths.values())
    report_dir.mkdir(parents=True, exist_ok=True)
    with open(report_dir / "scores.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", *[f"score_{n}" for n in scores]])
        for i, clip in enumerate(unseen):
            writer.writerow([clip.path.name, clip.label, *[f"{scores[n][i]:.6f}" for n in scores]])
    (report_dir / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    _roc_plot(labels, scores, report_dir / "roc.png", title=f"{bundle.name} on {len(unseen)} unseen clips")
    (report_dir / "report.md").write_text(_markdown(bundle.name, result))
    return result


def _roc_plot(labels: np.ndarray, scores: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, s in scores.items():
        fpr, tpr, _ = roc_curve(labels, s)
        ax.plot(fpr, tpr, "--" if name == "int8" else "-", label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.title.set_fontsize(9)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _markdown(name: str, result: dict[str, Any]) -> str:
    first = next(iter(result["variants"].values()))
    lines = [
        f"# Evaluation of {name}", "",
        f"Clips: {first['n_normal']} normal, {first['n_anomalous']} anomalous, all unseen by the bundle "
        f"({result['left_out_seen_clips']} clips it was fitted or thresholded on were left out). "
        "Scores are clip means of window scores, computed on the gateway code path.", "",
        "| variant | AUC | pAUC (FPR<=0.1) | accuracy | precision | recall | F1 | threshold | model bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, m in result["variants"].items():
        lines.append(
            f"| {variant} | {_fmt(m['auc'])} | {_fmt(m['pauc'])} | {_fmt(m['accuracy'])} | {_fmt(m['precision'])} "
            f"| {_fmt(m['recall'])} | {_fmt(m['f1'])} | {m['threshold']:.4g} | {m['model_bytes']} |"
        )
    lines += ["", "![ROC curves (float32 solid, int8 dashed)](roc.png)", ""]
    return "\n".join(lines)
