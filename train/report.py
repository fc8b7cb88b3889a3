"""The cross-validation report: one folder with report.md, results.json and PNGs per machine type.

Per machine type: a table of detector x {float32, int8} (AUC, pAUC, accuracy, precision, recall,
F1 as mean +- std over the repeats, model bytes, latency per window at batch 1); ROC curves of
the first split (float32 solid, int8 dashed); the write-up's timeline of a normal and an
anomalous test clip with windows over the threshold marked; training loss curves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from train.crossval import VARIANTS
from train.detectors import registry


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _roc(path: Path, machine: str, detectors: dict[str, Any]) -> None:
    from sklearn.metrics import roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    for i, (name, d) in enumerate(detectors.items()):
        run = d["runs"][0]
        for variant, style in (("float32", "-"), ("int8", "--")):
            fpr, tpr, _ = roc_curve(run["labels"], run[variant]["clip_scores"])
            ax.plot(fpr, tpr, style, color=f"C{i}", label=name if variant == "float32" else None)
    ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate",
           title=f"{machine}: ROC, split 1 (float32 solid, int8 dashed)")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _timeline(path: Path, machine: str, name: str, timeline: dict[str, Any]) -> None:
    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    for ax, (label, t) in zip(axes, timeline.items(), strict=True):
        starts, scores = np.array(t["starts_s"]), np.array(t["scores"])
        mid = starts + t["window_s"] / 2
        over = scores > t["threshold"]
        ax.plot(mid, scores, color="tab:blue", linewidth=1)
        ax.scatter(mid[~over], scores[~over], s=8, color="tab:green", label="under threshold")
        ax.scatter(mid[over], scores[over], s=12, color="tab:red", label="over threshold")
        ax.axhline(t["threshold"], color="black", linestyle="--", linewidth=0.8, label="window threshold")
        ax.set(ylabel="score", title=f"{label}: {t['file']} ({over.sum()} of {over.size} windows over)")
        ax.title.set_fontsize(9)
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("time in clip (s, window centre)")
    fig.suptitle(f"{machine}: {name} (int8) window scores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _losses(path: Path, machine: str, detectors: dict[str, Any]) -> None:
    plt = _plt()
    curves = {(n, k): v for n, d in detectors.items() for k, v in d["loss"].items()}
    fig, ax = plt.subplots(figsize=(6, 4))
    for (name, key), values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=f"{name} {key}")
    ax.set(xlabel="epoch", ylabel="loss", yscale="log", title=f"{machine}: training loss, split 1")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _ms(stat: dict[str, float]) -> str:
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def best_detector(detectors: dict[str, Any]) -> str:
    """The detector with the highest mean float32 AUC (ties: the first listed)."""
    return max(detectors, key=lambda n: detectors[n]["float32"]["auc"]["mean"])


def write_report(result: dict[str, Any], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# vigil machine-sound detectors: repeated-split evaluation", "",
             "## Protocol", "", result["protocol"].strip(), "",
             f"Repeats: {result['repeats']}. Threshold: {result['percentile']}th percentile of held-out normal "
             f"clip scores. Options: `{json.dumps(result['options'])}`. Latency: `Detector.score` on one window "
             "(batch 1) on the gateway path (standardize, quantize, TFLite invoke, dequantize), features excluded.",
             "", "Quantized variant (the `int8` rows): " + ", ".join(
                 f"{k.name} {k.quantization}" for k in registry().values() if k.name in result["detectors"])
             + " (16x8: int8 weights, int16 activations).",
             "", "## Summary", "",
             "| machine type | clips (normal + anomalous) | test clips per split | best detector "
             "| AUC float32 | AUC int8 |",
             "|---|---|---|---|---|---|"]
    for machine, t in result["types"].items():
        best = best_detector(t["detectors"])
        d = t["detectors"][best]
        lines.append(f"| {machine} | {t['clips']['normal']} + {t['clips']['anomalous']} | "
                     f"{t['test_clips']['normal']} + {t['test_clips']['anomalous']} | {best} | "
                     f"{_ms(d['float32']['auc'])} | {_ms(d['int8']['auc'])} |")
    lines += ["", "Mean over machine types, per detector (AUC; int8 minus float32):", "",
              "| detector | AUC float32 | AUC int8 | int8 - float32 | bytes float32 | bytes int8 "
              "| latency float32 (µs) | latency int8 (µs) |", "|---|---|---|---|---|---|---|---|"]
    for name in result["detectors"]:
        per = [t["detectors"][name] for t in result["types"].values()]
        f32 = np.mean([p["float32"]["auc"]["mean"] for p in per])
        i8 = np.mean([p["int8"]["auc"]["mean"] for p in per])
        size = {v: np.mean([p[v]["bytes"] for p in per]) for v in VARIANTS}
        lines.append(f"| {name} | {f32:.3f} | {i8:.3f} | {i8 - f32:+.3f} "
                     f"| {size['float32']:.0f} | {size['int8']:.0f} | "
                     f"{np.mean([p['latency_us']['float32'] for p in per]):.0f} | "
                     f"{np.mean([p['latency_us']['int8'] for p in per]):.0f} |")
    for machine, t in result["types"].items():
        folder = out / machine
        folder.mkdir(exist_ok=True)
        best = best_detector(t["detectors"])
        _roc(folder / "roc.png", machine, t["detectors"])
        _timeline(folder / "timeline.png", machine, best, t["detectors"][best]["timeline"])
        _losses(folder / "loss.png", machine, {n: d for n, d in t["detectors"].items() if d["loss"]})
        lines += ["", f"## {machine}", "",
                  f"{t['clips']['normal']} normal and {t['clips']['anomalous']} anomalous clips; per split "
                  f"{t['test_clips']['normal']} normal + {t['test_clips']['anomalous']} anomalous test clips.", "",
                  "| detector | variant | AUC | pAUC | accuracy | precision | recall | F1 | bytes | latency (µs) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, d in t["detectors"].items():
            for variant in VARIANTS:
                m = d[variant]
                lines.append(f"| {name} | {variant} | " + " | ".join(_ms(m[k]) for k in
                             ("auc", "pauc", "accuracy", "precision", "recall", "f1"))
                             + f" | {m['bytes']} | {d['latency_us'][variant]:.0f} |")
        lines += ["", f"![ROC]({machine}/roc.png)", "",
                  f"![timeline of the best detector, {best}]({machine}/timeline.png)", "",
                  f"![training loss]({machine}/loss.png)"]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
