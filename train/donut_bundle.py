"""`vigil train ecg` / `vigil train kpi`: a Donut bundle from EDF recordings or KPI CSVs.

Standardization statistics exclude missing and labelled points. The threshold comes from the point
scores on the validation part of the training series (the last 30 % by time, which the gradient
steps never see; it also chose the epoch), missing points left out: see train.series_threshold
(adjusted F1 on its labels when it has labelled anomalies, else a percentile of its scores). The
manifest records how under "calibration". A KPI bundle also stores the training series' last
window - 1 points ("warmup"), so a file that continues the series is scored from its first point;
a KPI score with spectral residual widens the bundle's window to its 720 points (Donut still sees
its own last `config.window` points).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.bundle.loader import sha256_file
from edge.bundle.manifest import DeciderSettings, DetectorEntry, Manifest, ModelEntry, Threshold
from edge.bundle.manifest_parts import Calibration, NormalScores, Warmup
from edge.detectors.base import load_detector
from edge.detectors.kpi_combine import combine_parts, fit_part_scales, series_dzscore, series_zscore
from edge.detectors.spectral_residual import WINDOW as SR_WINDOW
from edge.detectors.spectral_residual import series_sr
from edge.features.ecg import EcgSpec, standardize
from edge.modalities.base import modality_named
from edge.pipeline.series_scorer import Series, score_series
from train.audio import _versions
from train.bundle_writer import BundleWriter
from train.donut import DonutConfig, fit_donut
from train.export import to_tflite
from train.held_out import series_held_out
from train.kpi_defaults import AUTO_MENU
from train.quantization_check import INT8_RANK_MIN, rank_agreement
from train.series_metrics import adjusted_f1_curve, segments
from train.series_threshold import DEFAULT_PERCENTILE, choose_threshold, normal_window

# L: chosen from the cost/AUC table in README. On adfecgdb with injected anomalies, AUC was the same
# (0.571-0.574) for L in {16, 64, 256, 1024} and cost grew with L; the paper uses 1024.
DEFAULT_SAMPLES = 16
DEFAULT_ITERATIONS = 10


def _calibration(models: Any, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 calibration rows: training windows for the encoder, z drawn from q(z|x) for the decoder."""
    rows = x[np.random.default_rng(seed).permutation(len(x))[:1000]]
    z_mean, z_raw = (t.numpy() for t in models.encoder(rows))
    z_std = np.logaddexp(0.0, z_raw) + 1e-4  # softplus
    noise = np.random.default_rng(seed + 1).standard_normal(z_mean.shape).astype(np.float32)
    return rows, (z_mean + z_std * noise).astype(np.float32)


# The KPI scores a bundle may serve: the parts edge.detectors.kpi_combine takes the largest of.
COMBOS: dict[str, tuple[str, ...]] = {"donut": ("donut",), "donut+z": ("donut", "zscore"),
                                      "donut+z+sr": ("donut", "zscore", "sr"), "z+sr": ("zscore", "sr"),
                                      "z": ("zscore",), "z+sr+dz": ("zscore", "sr", "dzscore"),
                                      "z+dz": ("zscore", "dzscore")}


def score_choice(candidates: dict[str, np.ndarray], labels: np.ndarray, delay: int = 7) -> dict[str, Any]:
    """Validation scores (m,) per candidate score (the menu, in order of preference) and labels (m,) ->
    the one with the best delay-adjusted F1 on the labels (the earlier on ties; the first without labels)."""
    first = next(iter(candidates))
    if not segments(labels):
        return {"chosen": first, "why": "no labelled validation anomalies"}
    f1 = {name: round(float(adjusted_f1_curve(s[~np.isnan(s)], labels[~np.isnan(s)], delay)[1].max()), 4)
          for name, s in candidates.items()}
    return {"chosen": max(f1, key=lambda n: f1[n]),  # max keeps the first of equal values
            "why": f"best delay-{delay} adjusted F1 on the validation labels", "validation_best_f1": f1}


def _menu(combine: str, auto_menu: tuple[str, ...], sr_fits: bool) -> tuple[str, ...]:
    """The candidate scores of `combine` ("auto": auto_menu); on short series each without spectral residual."""
    menu = auto_menu if combine == "auto" else (combine,)
    if sr_fits:
        return menu
    names = {parts: name for name, parts in COMBOS.items()}
    return tuple(dict.fromkeys(names[tuple(p for p in COMBOS[m] if p != "sr")] for m in menu))


def _dz_window(menu: tuple[str, ...], window: int) -> int:
    """The difference z-score's window: the bundle's whole window, SR_WINDOW points when the score
    also holds spectral residual (the bundle is widened to it), else Donut's `window`."""
    with_dz = [m for m in menu if "dzscore" in COMBOS[m]]
    widths = {SR_WINDOW if "sr" in COMBOS[m] else window for m in with_dz}
    if len(widths) > 1:
        raise ValueError(f"menu {menu}: difference z-scores over different windows")
    return widths.pop() if widths else window


def train_donut_bundle(series: list[Series], spec: EcgSpec, modality: str, out: Path, config: DonutConfig, *,
                       percentile: float = DEFAULT_PERCENTILE, samples: int = DEFAULT_SAMPLES,
                       iterations: int = DEFAULT_ITERATIONS, use_labels: bool = True,
                       progress: bool = False, keep_validation: dict[str, Any] | None = None,
                       combine: str = "donut", default_variant: str = "int8",
                       auto_menu: tuple[str, ...] = AUTO_MENU, alarms_per_day: float | None = None,
                       int16_where_int8_loses: bool = False, decider: DeciderSettings | None = None) -> Manifest:
    """Fit Donut on the series, export encoder and decoder (float32, int8), threshold, write `out`.

    use_labels False: threshold by the tail rule even when the validation part has labels.
    combine: a key of COMBOS (Donut alone, or the max of its parts scaled on the validation part:
    edge.detectors.kpi_combine; the scales stored under models.<variant>.combine) or "auto" (per variant,
    the score of auto_menu with the best adjusted F1 on the validation labels; the first on a tie
    or without labels; recorded under models.<variant>.score_choice). Spectral residual needs
    SR_WINDOW points of context: series shorter than twice that leave it out of the menu.
    keep_validation: filled with {variant: (scores (m,), labels (m,))} of the validation points.
    alarms_per_day: the label-free threshold instead (train.series_threshold.evt_threshold at this many
    normal points over it per day of the series' median interval; timestamped series only).
    int16_where_int8_loses: the int8 variant's decoder becomes int16x8 where its validation scores
    rank unlike float32's (_int16_decoder_if_better; recorded under models.int8.quantization_check).
    decider: the gateway's event debounce written to the manifest (None: the Decider's default).
    """
    risk = None if alarms_per_day is None else alarms_per_day * _interval_seconds(series) / 86400.0
    config = replace(config, window=spec.window)
    usable = np.concatenate([s.values[~(s.missing | s.labels)] for s in series])
    mean, std = float(usable.mean()), float(max(usable.std(), 1e-6))
    values = [standardize(s.values, mean, std, s.missing) for s in series]
    excluded = [s.missing | s.labels for s in series]
    started = time.time()
    models = fit_donut(values, excluded, config, progress=progress)
    seconds = time.time() - started
    windows = np.concatenate([np.lib.stride_tricks.sliding_window_view(v, spec.window) for v in values])
    enc_rows, dec_rows = _calibration(models, windows.astype(np.float32), config.seed)

    with BundleWriter(out) as writer:
        entries: dict[str, ModelEntry] = {}
        for variant in ("float32", "int8"):
            files = {}
            for role, model, rows in (("encoder", models.encoder, enc_rows), ("decoder", models.decoder, dec_rows)):
                blob = to_tflite(model, representative=rows if variant == "int8" else None, seed=config.seed)
                files[role] = writer.add_model(variant, blob, role)
            entries[variant] = ModelEntry(files, Threshold(0.0), "float32" if variant == "float32" else
                                          "int8 weights and activations, int8 input/output")
        manifest = Manifest(
            name=f"donut-{modality}", modality=modality,
            detector=DetectorEntry("donut", "minus reconstruction log-probability of the last point",
                                   {k: v for k, v in vars(config).items() if k != "seed"}),
            features=spec.to_dict(), mean=np.asarray(mean), std=np.asarray(std), default_variant=default_variant,
            scoring={"samples": samples, "iterations": iterations}, models=dict(entries),
            training={"loss": models.history, "best_epoch": models.best_epoch, "seconds": round(seconds, 1)},
            provenance={"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": config.seed,
                        "fit_files": [{"file": s.path.name, "sha256": sha256_file(s.path)} for s in series],
                        "versions": _versions()},
            # a later file may continue the series: the bundle keeps its tail
            warmup=_warmup(series[-1], spec.window) if modality_named(modality).timestamped else None,
            decider_table=decider)
        bundle = writer.write(manifest)
        normal_scores: dict[str, NormalScores] = {}
        rule: dict[str, Any] = {}
        source = ""
        menu = _menu(combine, auto_menu, min(len(s.values) for s in series) >= 2 * SR_WINDOW)
        dz_window = _dz_window(menu, spec.window)
        valid_donut: dict[str, np.ndarray] = {}
        for variant in ("float32", "int8"):
            held, truth, tails = _validation_parts(bundle, variant, series, spec, config, menu, dz_window, use_labels)
            labels = np.concatenate(truth)
            valid = {k: np.concatenate([h[k] for h in held]) for k in held[0]}
            if int16_where_int8_loses and variant == "int8" and "donut" in valid:
                entries["int8"], restaged, redone = _int16_decoder_if_better(
                    writer, manifest, entries, models.decoder, dec_rows, config.seed, valid_donut["float32"],
                    valid["donut"], lambda b: _validation_parts(b, "int8", series, spec, config, menu, dz_window,
                                                                use_labels))
                bundle = restaged or bundle
                if redone is not None:
                    held, truth, tails = redone
                    valid = {k: np.concatenate([h[k] for h in held]) for k in held[0]}
            if "donut" in valid:
                valid_donut[variant] = valid["donut"]
            options = {}
            for name in menu:
                scales = fit_part_scales({p: valid[p] for p in COMBOS[name]}, labels)  # normal validation points
                options[name] = (scales, valid["donut"] if name == "donut" else combine_parts(valid, scales))
            chosen, choice = menu[0], None
            if combine == "auto":
                choice = score_choice({n: o[1] for n, o in options.items()}, labels)
                chosen = choice["chosen"]
            scales, scores = options[chosen]
            chosen_tails = [(lab, mis, p["donut"] if chosen == "donut" else combine_parts(p, scales))
                            for lab, mis, p in tails]
            if keep_validation is not None:
                keep_validation[variant] = (scores, labels)
            scored = ~np.isnan(scores)  # a score without Donut has none where no part has one
            scores, labels = scores[scored], labels[scored]
            threshold, rule = choose_threshold(scores, labels, percentile=percentile, risk=risk)
            if risk is not None:
                rule["alarms_per_day"] = alarms_per_day
            entries[variant] = replace(
                entries[variant], threshold=Threshold(threshold), score=chosen, score_choice=choice,
                combine=None if chosen == "donut" else scales,  # the threshold is then on the combined score
                held_out={k: sum(series_held_out(lab, mis, sc, threshold)[k] for lab, mis, sc in chosen_tails)
                          for k in ("normal", "anomalous", "detected", "false_alarms")})  # what it catches
            normal_scores[variant] = NormalScores(normal_window(scores, labels, config.seed))
            # the variants share the rule; each has its own threshold and scores
            source = (f"validation part of the training series (last {config.valid_fraction:.0%} "
                      f"by time, {scores.size} scored points, {int(labels.sum())} labelled), missing points left out")
        manifest = replace(manifest, models=entries, calibration=Calibration(normal_scores, rule, source))
        if any("sr" in COMBOS[m.score or "donut"] for m in entries.values()):
            manifest = _widen(manifest, series[-1], SR_WINDOW)
        writer.write(manifest)
        writer.commit()
    return manifest


Parts = tuple[list[dict[str, np.ndarray]], list[np.ndarray], list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]]


def _validation_parts(bundle: Any, variant: str, series: list[Series], spec: EcgSpec, config: DonutConfig,
                      menu: tuple[str, ...], dz_window: int, use_labels: bool) -> Parts:
    """Per series, the parts' scores on its validation part: (scored points' parts {name: (m,)}, their
    labels (m,), (labels, missing, parts) of every validation point)."""
    scorer = load_detector(bundle, variant)
    held: list[dict[str, np.ndarray]] = []
    truth: list[np.ndarray] = []
    tails: list[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = []
    for s in series:
        cut = len(s.values) - int(len(s.values) * config.valid_fraction)
        start = max(cut - spec.window + 1, 0)  # the window before the validation part is its context
        part = Series(s.path, s.values[start:], s.missing[start:], s.labels[start:], s.position[start:],
                      s.position_name)
        keep = ~s.missing[cut:]
        parts = {"zscore": series_zscore(part.values, part.missing, spec.window)[cut - start :]}
        if any("donut" in COMBOS[m] for m in menu):  # Donut's MCMC scoring is the costly part
            parts["donut"] = score_series(bundle, scorer, part)[cut - start :]
        if any("sr" in COMBOS[m] for m in menu):
            a = max(cut - SR_WINDOW + 1, 0)
            parts["sr"] = series_sr(s.values[a:], s.missing[a:])[cut - a :]
        if any("dzscore" in COMBOS[m] for m in menu):  # over the bundle's whole window (see _dz_window)
            a = max(cut - dz_window + 1, 0)
            parts["dzscore"] = series_dzscore(s.values[a:], s.missing[a:], dz_window)[cut - a :]
        held.append({k: v[keep] for k, v in parts.items()})
        truth.append(s.labels[cut:][keep] & use_labels)
        tails.append((s.labels[cut:], s.missing[cut:], parts))
    return held, truth, tails


def _int16_decoder_if_better(writer: BundleWriter, manifest: Manifest, entries: dict[str, ModelEntry],
                             decoder: Any, dec_rows: np.ndarray, seed: int, float_scores: np.ndarray,
                             int8_scores: np.ndarray, rescore: Callable[[Any], Parts]
                             ) -> tuple[ModelEntry, Any, Parts | None]:
    """The int8 variant's entry, the staged bundle (None: unchanged) and the rescored validation parts
    (None: unchanged).

    Where the int8 variant's validation scores rank the points unlike float32's (train.quantization_check),
    its decoder is re-exported with int16 activations (int8 weights) and kept if it ranks closer.
    """
    rho = rank_agreement(float_scores, int8_scores)
    entry = entries["int8"]
    check: dict[str, Any] = {"int8_rank_correlation": round(rho, 4), "bound": INT8_RANK_MIN}
    if rho >= INT8_RANK_MIN:
        return replace(entry, extra={**entry.extra, "quantization_check": check}), None, None
    int8_blob = writer.path(entry.files["decoder"].file).read_bytes()
    blob = to_tflite(decoder, representative=dec_rows, seed=seed, quantization="int16x8")
    trial = replace(entry, files={**entry.files, "decoder": writer.add_model("int8", blob, "decoder")},
                    quantization="int8 encoder; decoder with int8 weights, int16 activations (TFLite 16x8)")
    bundle = writer.write(replace(manifest, models={**entries, "int8": trial}))
    redone = rescore(bundle)
    rho16 = rank_agreement(float_scores, np.concatenate([h["donut"] for h in redone[0]]))
    check["int16x8_rank_correlation"] = round(rho16, 4)
    if rho16 > rho:
        return replace(trial, extra={**trial.extra, "quantization_check": check}), bundle, redone
    writer.add_model("int8", int8_blob, "decoder")  # the int8 decoder back: int16 did not help
    return replace(entry, extra={**entry.extra, "quantization_check": check}), writer.write(
        replace(manifest, models=dict(entries))), None


def _interval_seconds(series: list[Series]) -> float:
    """The median interval between points (s) of timestamped series."""
    if any(s.position_name != "timestamp" for s in series):
        raise ValueError("an alarm rate needs timestamped points")
    return float(np.median(np.concatenate([np.diff(s.position) for s in series])))


def _warmup(last: Series, window: int) -> Warmup:
    """The training series' last window - 1 points, and the timestamp one interval after them."""
    return Warmup(tuple(float(v) for v in last.values[-(window - 1) :]),
                  tuple(bool(m) for m in last.missing[-(window - 1) :]),
                  int(2 * last.position[-1] - last.position[-2]))


def _widen(manifest: Manifest, last: Series, window: int) -> Manifest:
    """The bundle's window (and its stored training tail) widened to `window` points for spectral residual."""
    return replace(manifest, features={**manifest.features, "window": window}, warmup=_warmup(last, window))
