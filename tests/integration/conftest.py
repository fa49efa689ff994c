"""Integration fixtures: the real dockerd, buildx, podman and a loopback registry.

Under CI=true a missing engine fails the run; elsewhere it skips, so a laptop
without Docker can still run the unit tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _need(ok: bool, what: str) -> None:
    if ok:
        return
    msg = f"{what} is not available (run 'make setup')"
    if os.environ.get("CI") == "true":
        pytest.fail(msg + " -- under CI=true integration tests must run")
    pytest.skip(msg)


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def engine() -> None:
    _need(_works(["docker", "info"]), "the docker engine")
    _need(_works(["docker", "buildx", "version"]), "docker buildx")
    for ref in ("debian:bookworm-slim", "python:3.11-slim-bookworm"):
        _need(
            _works(["docker", "image", "inspect", ref]),
            f"base image {ref} (bakectl images bootstrap)",
        )


@pytest.fixture(scope="session")
def podman() -> None:
    _need(_works(["podman", "--version"]), "podman")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


@pytest.fixture
def registry(tmp_path: Path):
    """A real registry (Debian's docker-registry) on loopback; yields host:port."""
    binary = shutil.which("docker-registry")
    _need(binary is not None, "docker-registry")
    port = free_port()
    cfg = tmp_path / "registry.yml"
    cfg.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [binary, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        # The tags a push or release made in docker's store under this registry's name
        # (only those: the port was this registry's alone while it ran).
        from tests.support.images import remove_images

        remove_images(f"127.0.0.1:{port}/")


def bakectl(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
    check: bool = True,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and res.returncode != 0:
        raise AssertionError(
            f"bakectl {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        )
    return res


def image_labels(ref: str, engine: str = "docker") -> dict[str, str]:
    out = subprocess.run(
        [engine, "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import json

    return json.loads(out) or {}


@dataclass
class CatalogLab:
    """A throwaway catalog (BAKECTL_ROOT) whose images live in their own namespace."""

    root: Path
    namespace: str

    @property
    def env(self) -> dict[str, str]:
        return {"BAKECTL_ROOT": str(self.root), "REGISTRY": self.namespace}

    def renderer(self):
        from bakectl.catalog import Catalog
        from bakectl.render import variables
        from bakectl.render.renderer import Renderer

        return Renderer(
            Catalog(self.root), variables.resolve(self.root, {"REGISTRY": self.namespace})
        )
