"""Kinds that register themselves: a package's modules imported once, on the first lookup of its registry.

Detectors, modalities and training entries are one module each in their package; importing the module
runs its ``@register...`` decorator, so adding a kind touches no list.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil


@functools.cache
def import_package_modules(package: str) -> None:
    """Import every module of ``package`` (dotted name), once per process."""
    root = importlib.import_module(package)
    for module in pkgutil.iter_modules(root.__path__):
        importlib.import_module(f"{package}.{module.name}")
