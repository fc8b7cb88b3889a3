"""The Detector seam: feature rows in, one anomaly score per row out (higher = more anomalous).

A Detector only scores; it knows no threshold (the Decider, built from the same bundle, owns
thresholds, debounce and merging: river's score_one and a filter, pyod's threshold_ apart from
decision_function). Every kind is one class in one file of ``edge/detectors/``, registered under
the name the bundle's manifest gives as ``detector.score`` (how the gateway scores), or as
``detector.kind`` when ``score`` is a description (Donut); a variant that holds ``combine`` scales
is scored by the KPI combiner kind (``Manifest.scorer_names``). Adding a kind is adding that file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np

from edge.bundle.loader import Bundle
from edge.discovery import import_package_modules
from edge.errors import BundleError


class Detector(ABC):
    """score(features (n, dim) float, missing (n, dim) bool or None, first) -> (n,) float32.

    ``first`` is the stream index of the first row (a kind drawing noise per window seeds it with
    the window's index, so scores do not depend on batching); kinds that do not need it ignore it.
    A kind that cannot score rows with missing input leaves ``handles_missing`` False: streams
    then hand it only complete rows and ``missing`` is None.
    """

    handles_missing: ClassVar[bool] = False
    variant: str | None = None  # the bundle variant the model came from: which thresholds apply

    @abstractmethod
    def score(self, features: np.ndarray, missing: np.ndarray | None = None, *, first: int = 0) -> np.ndarray: ...

    @classmethod
    def from_bundle(cls, bundle: Bundle, variant: str, **options: Any) -> Detector:
        """The detector of one verified bundle variant (options: kind-specific, e.g. num_threads)."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a bundle")

    def attribution(self, row: np.ndarray) -> dict[str, Any] | None:
        """What in the detector made one feature row (dim,) score as it did, for an event's peak window;
        None for a detector of one part (the fused detector names its member)."""
        return None


_KINDS: dict[str, type[Detector]] = {}
D = TypeVar("D", bound=type[Detector])


def windows_ending_at_each_point(features: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For one window of W points (W,): the W windows (W, W) ending at each of its points, as views.

    Row p ends at point p; the W - 1 - p positions before the window's start are zeros marked missing
    in the second array (W, W), so a detector imputes them as it does any gap (a recording's head).
    """
    width = features.shape[0]
    padded = np.concatenate([np.zeros(width - 1), features])
    pad_gaps = np.concatenate([np.ones(width - 1, dtype=bool), missing])
    view = np.lib.stride_tricks.sliding_window_view
    return view(padded, width), view(pad_gaps, width)


def register(*names: str) -> Callable[[D], D]:
    """Class decorator: the detector scores bundles whose detector.score (or kind) is one of names."""

    def add(cls: D) -> D:
        for name in names:
            _KINDS[name] = cls
        return cls

    return add


def kinds() -> dict[str, type[Detector]]:
    """Every registered kind (the modules of edge/detectors/ are imported on the first call)."""
    import_package_modules("edge.detectors")
    return dict(_KINDS)


def load_detector(bundle: Bundle, variant: str | None = None, **options: Any) -> Detector:
    """The Detector a bundle describes, on its chosen variant (the bundle's default, int8, if None)."""
    chosen = bundle.variant(variant)
    registered = kinds()
    manifest = bundle.manifest
    name = next((n for n in manifest.scorer_names(chosen.name) if n in registered), None)
    if name is None:
        raise BundleError(f"{bundle.path}: detector score {manifest.detector_score!r} (kind "
                          f"{manifest.detector_kind!r}) unknown (expected one of {sorted(registered)})")
    detector = registered[name].from_bundle(bundle, chosen.name, **options)
    detector.variant = chosen.name
    return detector
