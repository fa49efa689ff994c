"""Remove the images a test or benchmark built under its own namespace."""

from __future__ import annotations

import os
import subprocess


def remove_images(prefix: str, engine: str = "docker", env: dict[str, str] | None = None) -> None:
    """Remove every image whose name starts with `prefix` (podman's localhost/ ignored)."""
    environ = {**os.environ, **(env or {})}
    out = subprocess.run(
        [engine, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        env=environ,
    ).stdout
    mine = [r for r in out.split() if r.removeprefix("localhost/").startswith(prefix)]
    if mine:
        subprocess.run([engine, "image", "rm", "-f", *mine], capture_output=True, env=environ)


def image_members(ref: str, max_size: int) -> dict[str, bytes | None]:
    """Every path in the image's filesystem (`docker export`), with the content of
    regular files up to `max_size` bytes (None for the rest)."""
    import io
    import tarfile

    cid = subprocess.run(
        ["docker", "create", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        data = subprocess.run(["docker", "export", cid], capture_output=True, check=True).stdout
    finally:
        subprocess.run(["docker", "rm", cid], capture_output=True)
    members: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            small_file = m.isfile() and m.size < max_size
            members[m.name] = tar.extractfile(m).read() if small_file else None
    return members
