"""K-means, GMM and RBF SVM: fitted with scikit-learn, exported as Keras graphs (see graphs.py)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.svm import SVC

from edge.errors import ConfigError
from train.detectors import DetectorOptions, Trained, headroom
from train.detectors.graphs import CentreOffsets, NegativeLogLikelihood, NegativeRbfDecision, scoring_model


def _at_most_windows(option: str, value: int, x: np.ndarray) -> None:
    """Refuse more centres or components than the fold's training windows (scikit-learn's ValueError)."""
    if value > x.shape[0]:
        raise ConfigError(f"{option} {value}: more than the {x.shape[0]} training windows of a fold; expected at "
                          f"most {x.shape[0]} (or more or longer clips)")


def fit_kmeans(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    _at_most_windows("--clusters", options.clusters, x)
    km = KMeans(n_clusters=options.clusters, n_init=10, random_state=options.seed).fit(x)
    model = scoring_model(CentreOffsets(km.cluster_centers_), x.shape[1], "kmeans")
    return Trained(model, "nearest_offset_norm", headroom(x), params={"clusters": options.clusters,
                                                                      "inertia": float(km.inertia_)})


def precision_cholesky(gmm: GaussianMixture) -> np.ndarray:
    """Per-component precision Cholesky factors (k, d, d) whatever the covariance type."""
    k, d = gmm.means_.shape
    pc = gmm.precisions_cholesky_
    if gmm.covariance_type == "full":
        return pc
    if gmm.covariance_type == "tied":
        return np.repeat(pc[None], k, axis=0)
    if gmm.covariance_type == "diag":
        return np.stack([np.diag(p) for p in pc])
    return np.stack([np.eye(d) * p for p in pc])  # spherical


def fit_gmm(x: np.ndarray, _anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    # a small ridge keeps full covariances invertible on ~100 windows of 17 correlated features
    _at_most_windows("--components", options.components, x)
    gmm = GaussianMixture(n_components=options.components, covariance_type=options.covariance,
                          reg_covar=1e-3, random_state=options.seed).fit(x)
    layer = NegativeLogLikelihood(gmm.weights_, gmm.means_, precision_cholesky(gmm))
    return Trained(scoring_model(layer, x.shape[1], "gmm"), "model_output", headroom(x),
                   params={"components": options.components, "covariance": options.covariance})


def fit_svm(x: np.ndarray, anomalous: np.ndarray | None, options: DetectorOptions) -> Trained:
    if anomalous is None or anomalous.shape[0] == 0:
        raise ValueError("svm is supervised: it needs anomalous training clips")
    data = np.concatenate([x, anomalous])
    labels = np.concatenate([np.ones(x.shape[0]), np.zeros(anomalous.shape[0])])  # normal = positive class
    svc = SVC(kernel="rbf", gamma="scale", class_weight="balanced", random_state=options.seed).fit(data, labels)
    sign = 1.0 if svc.classes_[1] == 1 else -1.0  # decision > 0 must mean normal
    layer = NegativeRbfDecision(svc.support_vectors_, sign * svc.dual_coef_[0], sign * float(svc.intercept_[0]),
                                float(svc._gamma))
    return Trained(scoring_model(layer, x.shape[1], "svm"), "model_output", headroom(data),
                   params={"support_vectors": int(svc.support_vectors_.shape[0]), "gamma": float(svc._gamma)})
