"""The Modality seam: what kind of signal a bundle models, and every choice that kind decides.

A manifest names its modality by a string (``"modality": "audio"``, ``"ecg"``, ``"kpi"``); that
string is looked up here and nowhere else. The Modality object then owns what differs between
kinds of signal: how the manifest's ``features`` become a window spec, what a stream needs from
its source, the framing of a stream, how a recording file is opened, the score levels calibration
thresholds and how normal recordings are scored for it, and how `vigil score` and `vigil bench`
score its files. The modalities sit below the commands: a command asks its bundle's modality, and
no modality imports ``edge.commands``. The training side (``train/modalities/``) registers its
entries by the same names, since ``edge`` never imports ``train``.

Every module of ``edge/modalities/`` is imported on the first lookup (pkgutil, as
``edge/detectors/``): adding a modality is adding one module whose class is decorated with
``register_modality``; no list elsewhere names the modules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import numpy as np

from edge.discovery import import_package_modules
from edge.errors import BundleError

if TYPE_CHECKING:
    from edge.bundle.loader import Bundle
    from edge.bundle.manifest import Manifest
    from edge.features.ecg import EcgSpec
    from edge.features.spec import FeatureSpec
    from edge.pipeline.framing import Framing
    from edge.sources.base import Needs
    from edge.sources.file import FileRecording


@dataclass(frozen=True)
class ScoreRequest:
    """What `vigil score` / `vigil bench` were asked: model variant (None: the bundle's default),
    channel of a multi-channel WAV, JSON output, Donut's latent samples and MCMC rounds (None: the
    bundle's), a KPI CSV's column names or positions. A modality ignores what does not apply to it."""

    variant: str | None = None
    channel: int | None = None
    as_json: bool = False
    samples: int | None = None
    iterations: int | None = None
    columns: str | None = None


class FileScore(Protocol):
    """One file's result of `vigil score`: a JSON object (``--json``) or one line of text."""

    def to_json(self) -> dict[str, Any]: ...

    def summary(self) -> str: ...


class Modality(ABC):
    """One kind of signal. Subclasses are stateless; the registry keeps one instance of each."""

    name: ClassVar[str]
    spec_type: ClassVar[type]  # the window spec class its features are read into
    suffixes: ClassVar[tuple[str, ...]]  # recording files of this kind, as a folder of them is searched
    levels: ClassVar[tuple[str, ...]] = ("window",)  # score levels with a threshold ("clip": a recording's mean)
    calibrated_on: ClassVar[str]  # which normal scores the calibration rule runs on, as the manifest says it
    heart_rate: ClassVar[bool] = False  # its streams also report a fetal heart rate (sensor, page plot)
    timestamped: ClassVar[bool] = False  # points carry timestamps: label windows and a continued series apply
    machine_type: ClassVar[bool] = False  # its manifests always say machine_type (null: not known)
    raw_unit: ClassVar[str] = "value"  # the unit of a source's samples when the bundle names none (page axis)

    @abstractmethod
    def window_spec(self, features: dict[str, Any]) -> FeatureSpec | EcgSpec:
        """The manifest's ``features`` as this modality's spec (BundleError, TypeError or ValueError if not)."""

    def explainer(self, bundle: Bundle, spec: Any) -> Callable[[np.ndarray], list[dict[str, Any]]] | None:
        """What names, for an event, where its peak window's features differ from normal; None: nothing."""
        return None

    def check_bundle(self, manifest: Manifest, spec: Any) -> None:
        """Refuse (BundleError naming the field) a manifest whose parts disagree with its spec."""
        return None  # nothing to refuse unless a modality says so

    @abstractmethod
    def needs(self, spec: Any) -> Needs:
        """What a stream of this spec needs from its source: rate in Hz, channel, unit."""

    @abstractmethod
    def framing(self, spec: Any) -> Framing:
        """How a stream cuts samples of this spec into scored rows."""

    @abstractmethod
    def open_recording(self, path: str | Path, needs: Needs, *, channel: int | None = None) -> FileRecording:
        """One pass over a recording file at the rate and channel ``needs`` names."""

    @abstractmethod
    def file_scores(self, files: list[Path], bundle: Bundle, request: ScoreRequest) -> Iterator[FileScore]:
        """`vigil score`: each file's scores, one result per file in order, scored as it is asked for."""

    @abstractmethod
    def bench(self, files: list[Path], bundle: Bundle, request: ScoreRequest, *, repeat: int) -> dict[str, Any]:
        """`vigil bench`: score the files ``repeat`` times as fast as possible; the cost as report entries
        (variant, files, signal seconds, CPU seconds, real-time factor, units scored), in print order."""

    def check_clip_seconds(self, spec: Any, clip_seconds: float) -> None:
        """Refuse (ConfigError) a calibration clip length this modality cannot score."""
        return None  # nothing to refuse unless a modality says so

    def check_normal_recording(self, bundle: Bundle, path: Path) -> None:
        """Refuse (InputFileError) a recording that cannot be a normal recording of the bundle's source."""
        return None  # nothing to refuse unless a modality says so

    @abstractmethod
    def normal_scores(self, bundle: Bundle, files: list[Path], variant: str,
                      clip_seconds: float) -> dict[str, np.ndarray]:
        """Scores float64 of normal recordings per level of ``levels``, on the gateway code path."""


M = TypeVar("M", bound=type[Modality])
_REGISTRY: dict[str, Modality] = {}


def register_modality(cls: M) -> M:
    """Class decorator: bundles whose manifest says ``"modality": cls.name`` are handled by cls."""
    _REGISTRY[cls.name] = cls()
    return cls


def modalities() -> dict[str, Modality]:
    """Every registered modality by name, sorted (the modules of edge/modalities/ imported on the first call)."""
    import_package_modules("edge.modalities")
    return dict(sorted(_REGISTRY.items()))


def modality_named(name: str) -> Modality:
    """The registered modality of this name; BundleError naming the known ones otherwise."""
    known = modalities()
    if name not in known:
        raise BundleError(f"modality {name!r} is not one of {', '.join(known)}")
    return known[name]


def framing_of(spec: FeatureSpec | EcgSpec) -> Framing:
    """The framing of a window spec, by the modality that reads its features into that spec class
    (modalities sharing a spec class share its framing)."""
    for candidate in modalities().values():
        if isinstance(spec, candidate.spec_type):
            return candidate.framing(spec)
    raise TypeError(f"no modality frames a {type(spec).__name__}")
