"""Non-pickle model artifacts: JSON + numpy ``.npz``, every file checksummed in a manifest.

A loader re-hashes each file and refuses an artifact whose bytes differ from the manifest,
so a half-copied or edited model never serves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class ArtifactError(RuntimeError):
    """The artifact is missing, incomplete or does not match its checksums."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(directory: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Checksum every file of ``directory`` (except the manifest) and write the manifest."""
    files = {
        p.name: sha256_of(p)
        for p in sorted(directory.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {**meta, "files": files}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def read_verified_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of ``directory`` after checking every listed file's SHA-256."""
    path = directory / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{directory}: no {MANIFEST}")
    manifest: dict[str, Any] = json.loads(path.read_text())
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ArtifactError(f"{path}: lists no files")
    for name, expected in files.items():
        member = directory / name
        if not member.is_file():
            raise ArtifactError(f"{directory}: {name} is missing")
        actual = sha256_of(member)
        if actual != expected:
            raise ArtifactError(
                f"{member}: checksum {actual[:12]} != manifest {str(expected)[:12]}"
            )
    return manifest


def refresh_manifest(directory: Path, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Re-checksum ``directory`` after adding files, keeping (and extending) the manifest's meta."""
    path = directory / MANIFEST
    meta: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    meta.pop("files", None)
    meta.update(extra or {})
    return write_manifest(directory, meta)
