"""Content hashes of build inputs: what decides whether an image is up to date."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def hash_tree(top: Path, h: hashlib._Hash | None = None) -> str:
    """Hash every file under `top`: relative path, executable bit, content.

    Walk order is sorted so the hash is stable across machines.
    """
    h = h or hashlib.sha256()
    if not top.is_dir():
        return h.hexdigest()
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(top):
        # Byte-code caches are not inputs (and .dockerignore keeps them out of builds).
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in filenames:
            p = Path(dirpath) / name
            entries.append((p.relative_to(top).as_posix(), p))
    for rel, p in sorted(entries):
        if p.is_symlink():  # the link itself is what the build context holds
            h.update(f"{rel}\0l\0{os.readlink(p)}\0".encode())
            continue
        mode = "x" if os.access(p, os.X_OK) else "-"
        h.update(f"{rel}\0{mode}\0".encode())
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def hash_parts(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()
