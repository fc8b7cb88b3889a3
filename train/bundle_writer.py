"""The one bundle writer: every detector kind and Donut stage, hash and rename their bundles here.

A bundle is built in a staging folder beside its destination (same filesystem), each model file
hashed as it is written; every manifest written is parsed back with the gateway's own loader (a
bundle the gateway would refuse is never committed); ``commit`` renames the staging folder into
place (an existing bundle is moved aside first and removed only once the new one is in place).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from edge.bundle.loader import Bundle, load_bundle, sha256_file, write_manifest
from edge.bundle.manifest import Manifest, ModelFile
from edge.outputs import as_mkdir, check_dir, stop_if_terminated


class BundleWriter:
    """Use as a context manager: ``add_model`` files, ``write`` the manifest (as often as needed),
    then ``commit``; leaving the block without a commit removes the staging folder."""

    def __init__(self, out: Path) -> None:
        stop_if_terminated()  # a stop that TensorFlow swallowed is honoured here: no new work after it
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out.parent))

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.staging.exists():
            shutil.rmtree(self.staging)

    def add_model(self, variant: str, blob: bytes, role: str = "model", suffix: str = ".tflite") -> ModelFile:
        """Write one model file (``<role>_<variant><suffix>``: a NumPy-scored kind may store .npy arrays);
        returns its manifest entry (file, sha256, bytes)."""
        path = self.staging / f"{role}_{variant}{suffix}"
        path.write_bytes(blob)
        return ModelFile(path.name, sha256_file(path), len(blob))

    def path(self, name: str) -> Path:
        return self.staging / name

    def write(self, manifest: Manifest) -> Bundle:
        """Write manifest.json and load the staged bundle as the gateway would (verifies every field)."""
        write_manifest(self.staging, manifest)
        return load_bundle(self.staging)

    def commit(self) -> Path:
        """Put the staged bundle at ``out``, replacing a bundle already there: only a vigil bundle (the
        command checked that, and --force, before training; checked again here), never other files.
        The folder gets mkdir's permissions (umask applied), not mkdtemp's 0700."""
        stop_if_terminated()  # never put a bundle in place after a stop was asked
        check_dir(self.out, "bundle", force=True)
        as_mkdir(self.staging)
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{self.staging.name}")
            self.out.rename(old)
        self.staging.rename(self.out)
        if old is not None:
            shutil.rmtree(old)
        return self.out
