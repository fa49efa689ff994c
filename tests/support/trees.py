"""What "byte-identical" means for a directory, for the bundle tests."""

from __future__ import annotations

from pathlib import Path


def dir_snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """relpath -> (mode, mtime, bytes) of everything under `root`."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
        out[p.relative_to(root).as_posix()] = (st.st_mode, int(st.st_mtime), data)
    return out
