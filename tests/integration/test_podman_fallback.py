"""The podman fallback for real: a podman-backed DOCKER_HOST (bake cannot boot a
builder there), and --engine podman next to a real dockerd (separate stores)."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import bakectl, image_labels
from tests.support.images import remove_images

pytestmark = pytest.mark.integration

BASES = ("debian:bookworm-slim", "python:3.11-slim-bookworm")


@pytest.fixture(scope="module")
def podman_bases(engine, podman):
    """podman cannot pull here either: give its store the bootstrapped bases."""
    for ref in BASES:
        if subprocess.run(["podman", "image", "exists", ref]).returncode != 0:
            save = subprocess.Popen(["docker", "image", "save", ref], stdout=subprocess.PIPE)
            subprocess.run(
                ["podman", "load", "-q"], stdin=save.stdout, check=True, capture_output=True
            )
            save.wait()


@pytest.fixture
def podman_socket(tmp_path: Path, podman_bases):
    sock = tmp_path / "podman.sock"
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sock.exists(), "podman system service did not start"
    yield f"unix://{sock}"
    proc.terminate()
    proc.wait(timeout=10)


def test_fallback_through_podman_backed_docker_host(podman_socket):
    ns = f"pm-{uuid.uuid4().hex[:8]}"
    env = {"DOCKER_HOST": podman_socket, "REGISTRY": ns}
    try:
        res = bakectl(
            "build", "eval", "terminal-tasks", "--agent", "oracle", "-t", "hello-file", env=env
        )
        assert "$ REGISTRY=" in res.stderr and "docker buildx bake" in res.stderr
        assert "falling back to podman build, derived from bake --print" in res.stderr
        assert "$ podman build " in res.stderr
        # docker *is* podman here: one store, nothing to move.
        assert "| docker load" not in res.stderr
        ref = next(ln.split("built: ")[1] for ln in res.stderr.splitlines() if "built: " in ln)
        labels = image_labels(ref, "podman")
        assert labels["dev.bakectl.kind"] == "eval"
        assert labels["dev.bakectl.task"] == "hello-file"
        assert labels["dev.bakectl.agent"] == "oracle"
        # The docker CLI (talking to podman) sees it, so the next build is a no-op.
        again = bakectl(
            "build", "eval", "terminal-tasks", "--agent", "oracle", "-t", "hello-file", env=env
        )
        assert "up to date: " + ref in again.stderr
    finally:
        remove_images(ns + "/", "podman")


def test_engine_podman_moves_image_into_docker_store(podman_bases):
    ns = f"pm-{uuid.uuid4().hex[:8]}"
    try:
        res = bakectl(
            "build", "eval", "arith", "--agent", "nop", "--engine", "podman", env={"REGISTRY": ns}
        )
        assert "docker buildx bake -f" not in res.stderr.replace("--print", "")
        assert "| docker load" in res.stderr
        ref = next(ln.split("built: ")[1] for ln in res.stderr.splitlines() if "built: " in ln)
        labels = image_labels(ref, "docker")
        assert labels["dev.bakectl.kind"] == "eval" and labels["dev.bakectl.agent"] == "nop"
        files = subprocess.run(
            ["docker", "run", "--rm", "--entrypoint", "ls", ref, "/opt/bakectl/agent", "/app/data"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "run.sh" in files and "numbers.txt" in files
    finally:
        remove_images(ns + "/", "docker")
        remove_images(ns + "/", "podman")
