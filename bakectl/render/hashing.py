"""Content hashes of build inputs: what decides whether an image is up to date."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

from bakectl.errors import UsageError


def _refuse(path: Path, what: str) -> UsageError:
    return UsageError(
        f"{path}: {what} inside a build context",
        "build contexts hold regular files, directories and symlinks that resolve; "
        "remove it or list it in the context's .dockerignore",
    )


def hash_tree(top: Path, h: hashlib._Hash | None = None) -> str:
    """Hash every file under `top`: relative path, executable bit, content.

    Walk order is sorted so the hash is stable across machines. Symlinks are hashed
    as links (what the build context holds), also links to directories. A FIFO,
    socket or device (reading one blocks or never ends) and a symlink loop are
    refused before anything is read.
    """
    h = h or hashlib.sha256()
    if not top.is_dir():
        return h.hexdigest()
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(top):
        # Byte-code caches are not inputs (and .dockerignore keeps them out of builds).
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        linked = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        for name in [*filenames, *linked]:
            p = Path(dirpath) / name
            entries.append((p.relative_to(top).as_posix(), p))
    for rel, p in sorted(entries):
        mode = os.lstat(p).st_mode
        if stat.S_ISLNK(mode):  # the link itself is what the build context holds
            try:
                os.stat(p)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise _refuse(p, f"a symlink loop ({os.readlink(p)!r})") from None
            h.update(f"{rel}\0l\0{os.readlink(p)}\0".encode())
            continue
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "a device file"
            )
            raise _refuse(p, kind)
        x = "x" if os.access(p, os.X_OK) else "-"
        h.update(f"{rel}\0{x}\0".encode())
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def hash_parts(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()
