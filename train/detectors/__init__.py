"""The detector registry: every kind `vigil train audio --detector NAME` can train.

A detector kind says which features it reads (set and sequence length), whether it needs
anomalous clips (supervised), and how to fit it. Fitting returns a float Keras model that maps
standardized features (n, dim) either to a reconstruction (n, dim) or to a score (n, 1), plus the
rows used to calibrate its int8 export.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.features.spec import FeatureSpec


@dataclass(frozen=True)
class DetectorOptions:
    """Hyper-parameters from the command line (each detector reads the ones it has)."""

    epochs: int = 50
    seed: int = 0
    clusters: int = 1  # kmeans (the write-up uses 1)
    components: int = 1  # gmm
    covariance: str = "full"  # gmm: full, tied, diag, spherical
    sequence: int = 10  # lstm-ae: consecutive windows per sequence (the write-up uses 10)


@dataclass
class Trained:
    """A fitted detector: float Keras model, how to read its output, loss curves, int8 calibration rows."""

    model: Any
    score: str  # "reconstruction_mse", "model_output" or "projection_norm"
    calibration: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


# fit(x, anomalous, options) -> Trained. x: standardized normal windows (n, dim); anomalous: standardized
# anomalous windows (supervised kinds) or None. Kinds with fit_on_frames also get frames=: standardized
# log-mel frames (m, n_mels) under the normal windows; kinds with fit_on_scale get scale=: the
# standardization's mean and std (dim,) each.
FitFn = Callable[..., Trained]


@dataclass(frozen=True)
class DetectorKind:
    name: str
    feature_set: str
    supervised: bool
    fit: FitFn
    description: str
    sequence_option: bool = False  # reads DetectorOptions.sequence
    quantization: str = "int8"  # of the quantized variant: "int8" or "int16x8" (see train.export)
    default_variant: str = "int8"  # what the gateway runs; "float32" where the quantized model measurably loses
    variant_reason: str | None = None  # the measurement behind a float32 default (kept in the manifest)
    # Also fitted on the single log-mel frames under the windows (fit(..., frames=)): ten 10 s clips
    # give ~3,000 frames against ~190 windows, enough to estimate 128 x 128 band correlations
    fit_on_frames: bool = False
    fit_on_scale: bool = False  # also gets scale=(mean, std) of the standardization (fit(..., scale=))

    def sequence(self, options: DetectorOptions) -> int:
        return options.sequence if self.sequence_option else 1

    def spec(self, options: DetectorOptions) -> FeatureSpec:
        """The features the gateway scores (stored in the bundle)."""
        return FeatureSpec.default(self.feature_set, sequence=self.sequence(options))

    def frame_spec(self, options: DetectorOptions) -> FeatureSpec:
        """Single log-mel frames with the scored features' STFT and mel parameters: (frames, n_mels)."""
        return dataclasses.replace(self.spec(options), set="logmel-mean", frames=1, hop_frames=1)


def registry() -> dict[str, DetectorKind]:
    """All detector kinds, in the order reports list them (imports TensorFlow and scikit-learn)."""
    from train.detectors import classical, fewshot, networks
    from train.fused_audio import fused_kind

    kinds = [
        fused_kind(),
        DetectorKind("maha", "logmel-stats", False, fewshot.fit_mahalanobis_frames,
                     "Mahalanobis distances (Ledoit-Wolf) of 1 s log-mel band means (covariance of single frames) "
                     "and band stds (covariance of windows), each scaled to unit RMS on normal windows",
                     fit_on_frames=True, default_variant="float32",
                     variant_reason=_IDS + "int8 AUC 0.700 vs float32 0.733 on fan id_06, 0.640 vs 0.680 on "
                     "toycar id_04"),
        DetectorKind("maha-envelope", "logmel-stats", False, fewshot.fit_mahalanobis_envelope,
                     f"maha on the spectral envelope: the first {fewshot.ENVELOPE_COEFFICIENTS} cepstral coefficients "
                     "(DCT of the dB bands) of the 1 s band means and of the band stds",
                     fit_on_frames=True, fit_on_scale=True),  # int8 within 0.01 of float32 per id (fused_audio)
        DetectorKind("maha-stats", "logmel-stats", False, fewshot.fit_mahalanobis,
                     "Mahalanobis distance (Ledoit-Wolf shrinkage) of per-band log-mel mean and std to normal windows"),
        # float32 by default: ||x||^2 - 2 x.b + ||b||^2 is a difference of large terms, and int8
        # activations left a handful of distinct window scores (Spearman 0.66 against float32 on
        # toycar; clip AUC off by up to 0.08 in benchmarks/fewshot_audio.py types); the 16x8
        # quantizer has no SQRT kernel, and without it ranked slider windows backwards (-0.36)
        DetectorKind("knn", "logmel-stats", False, fewshot.fit_knn,
                     "distance to the nearest normal window (per-band log-mel mean and std)",
                     default_variant="float32", variant_reason=_IDS + "int8 AUC 0.440 vs float32 0.480 on toyconveyor "
                     "id_01; int8 window scores Spearman 0.66 against float32 on toycar"),
        DetectorKind("dense-ae", "logmel", False, networks.fit_dense_ae,
                     "DCASE 2020 baseline dense autoencoder on 640-value log-mel vectors"),
        DetectorKind("kmeans", "seed", False, classical.fit_kmeans, "distance to the nearest K-means centre",
                     default_variant="float32",
                     variant_reason=_IDS + "int8 AUC 0.650 vs float32 0.750 on slider id_00"),
        DetectorKind("gmm", "seed", False, classical.fit_gmm, "minus the log-likelihood under a Gaussian mixture",
                     default_variant="float32",
                     variant_reason=_IDS + "int8 AUC 0.567 vs float32 0.600 on fan id_06, 0.800 vs 0.850 on "
                     "slider id_00"),
        # 16x8: measured on fan, toycar and valve (3 splits each), int8 activations lost 0.10 AUC on
        # average against float32 (the decision sums ~100 small kernel terms), 16x8 lost 0.01
        DetectorKind("svm", "seed", True, classical.fit_svm,
                     "RBF SVM trained on normal and anomalous clips; minus the decision function",
                     quantization="int16x8"),
        DetectorKind("conv-ae", "seed", False, networks.fit_conv_ae, "Conv1D autoencoder on the 17 window features",
                     default_variant="float32",
                     variant_reason=_IDS + "int8 AUC 0.280 vs float32 0.320 on valve id_02; more than 0.02 below on a "
                     "reserved fan too"),
        DetectorKind("lstm-ae", "seed", False, networks.fit_lstm_ae,
                     "LSTM autoencoder over sequences of consecutive window features", sequence_option=True),
        DetectorKind("gan", "seed", False, networks.fit_gan, "GAN on normal windows; 1 - D(x)",
                     default_variant="float32",
                     variant_reason=_IDS + "int8 AUC 0.680 vs float32 0.720 on toycar id_04"),
    ]
    return {k.name: k for k in kinds}


_IDS = "measured by benchmarks/fewshot_audio.py ids (fit on the other normal clips of one machine id): "
DETECTOR_NAMES = ("fused", "maha", "maha-envelope", "maha-stats", "knn", "dense-ae", "kmeans", "gmm", "svm", "conv-ae",
                  "lstm-ae", "gan")


def headroom(x: np.ndarray) -> np.ndarray:
    """Calibration rows for models that output a score: x, 2x and 4x (x is standardized, mean 0).

    Calibrating on normal rows alone sets the int8 output range to normal scores, and every
    anomaly then saturates at the top; pushing rows away from the mean leaves head-room.
    """
    return np.concatenate([x, 2.0 * x, 4.0 * x]).astype(np.float32)
