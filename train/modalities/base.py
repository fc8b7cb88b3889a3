"""The training seam: `vigil train NAME` and `vigil evaluate` for each trainable modality.

A modality of the gateway (``edge.modalities``, registered by name) is trained and evaluated by
the entry registered here under the same name: its `vigil train NAME` parser and options, its
training, and its evaluation of a bundle. ``train/cli.py`` builds `vigil train` from this
registry and sends `vigil evaluate --bundle B` to the entry of B's modality; no code elsewhere
names a modality. ``edge`` never imports ``train``, so the gateway's Modality objects cannot hold
any of this.

Every module of ``train/modalities/`` is imported on the first lookup (pkgutil): adding a
trainable modality is one module in ``edge/modalities/`` and one here.
"""

from __future__ import annotations

import argparse
import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

from edge.discovery import import_package_modules
from edge.errors import BundleError, MissingExtraError


class ModalityTraining(ABC):
    """The training side of one modality. Subclasses are stateless; the registry keeps one instance of each."""

    name: ClassVar[str]  # the modality's name in edge.modalities and in manifests
    evaluates_without_bundle: ClassVar[bool] = False  # `vigil evaluate` without --bundle trains and tests it

    @abstractmethod
    def add_parser(self, train: Any) -> argparse.ArgumentParser:
        """Add `vigil train NAME` to the ``train`` subparsers, with its arguments, dispatching to ``train``."""

    @abstractmethod
    def train(self, args: argparse.Namespace) -> int:
        """`vigil train NAME`: write one bundle (or a folder of them), print what was trained; exit status."""

    @abstractmethod
    def evaluate(self, args: argparse.Namespace) -> int:
        """`vigil evaluate`: a bundle of this modality (``args.bundle``) on ``args.inputs``, or, with
        ``evaluates_without_bundle`` and no bundle, detectors trained and tested on repeated splits;
        the report written to ``args.report``; exit status."""

    def evaluate_options(self, p: argparse.ArgumentParser) -> None:
        """Options `vigil evaluate` needs for this modality alone, beyond the command's own."""
        return None  # none unless a modality says so


T = TypeVar("T", bound=type[ModalityTraining])
_REGISTRY: dict[str, ModalityTraining] = {}


def register_training(cls: T) -> T:
    """Class decorator: `vigil train cls.name` and the evaluation of bundles of that modality are cls's."""
    _REGISTRY[cls.name] = cls()
    return cls


def trainings() -> dict[str, ModalityTraining]:
    """Every registered entry by modality name, sorted (the modules of train/modalities/ imported on the first call)."""
    import_package_modules("train.modalities")
    return dict(sorted(_REGISTRY.items()))


def training_for(modality: str) -> ModalityTraining:
    """The entry that trains and evaluates this modality; BundleError naming the trainable ones otherwise."""
    known = trainings()
    if modality not in known:
        raise BundleError(f"modality {modality!r}: no training side (trainable: {', '.join(known)})")
    return known[modality]


def evaluation_without_bundle() -> ModalityTraining:
    """The entry `vigil evaluate` runs when no --bundle is given (the one that trains and tests on splits)."""
    found = [t for t in trainings().values() if t.evaluates_without_bundle]
    assert len(found) == 1, f"one modality evaluates without a bundle, not {len(found)}"
    return found[0]


def require_tensorflow() -> None:
    """Import TensorFlow (quietly), or say which extra to install (MissingExtraError)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "training needs TensorFlow: install the train extra (pip install '.[train]' in the checkout)"
        ) from None
