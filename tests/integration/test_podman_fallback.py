"""The podman fallback for real: a podman-backed DOCKER_HOST (bake cannot boot a
builder there), and --engine podman next to a real dockerd (separate stores)."""

from __future__ import annotations

import re
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


# -- bake any project; D2: FROM ${ARG} with a named context, and anonymous tags ------------

D2_BAKE = """\
target "base" {
  dockerfile = "base.Dockerfile"
}
target "app" {
  dockerfile = "app.Dockerfile"
  contexts = { "debian:bookworm-slim" = "target:base" }
  tags = ["localhost/TAG"]
}
"""


def _project(root: Path, name: str, tag: str) -> Path:
    root.mkdir(parents=True)
    (root / "base.Dockerfile").write_text(f"FROM debian:bookworm-slim\nRUN echo {name} > /which\n")
    # podman 4.3 ignores a named context for FROM ${ARG}: without resolving it first,
    # this built FROM the store's debian and exited 0 (reproduced before the fix).
    (root / "app.Dockerfile").write_text(
        "ARG BASE=debian:bookworm-slim\nFROM ${BASE}\nRUN cp /which /which-app\n"
    )
    (root / "docker-bake.hcl").write_text(D2_BAKE.replace("TAG", tag))
    return root


def _file_in(ref: str, path: str) -> str:
    cid = subprocess.run(
        ["podman", "create", ref], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        out = subprocess.run(["podman", "export", cid], capture_output=True, check=True).stdout
    finally:
        subprocess.run(["podman", "rm", cid], capture_output=True)
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        return tar.extractfile(path).read().decode().strip()


def test_bake_any_project_with_podman_resolves_arg_from_per_project(podman_bases, tmp_path):
    run = uuid.uuid4().hex[:8]
    tags, anon = [], []
    try:
        for name in ("project-one", "project-two"):
            tag = f"d2-{run}-{name}:1"
            proj = _project(tmp_path / name, name, tag)
            res = bakectl("bake", "app", "--engine", "podman", cwd=proj)
            tags.append(f"localhost/{tag}")
            anon += re.findall(r"localhost/bakectl-fallback/base:[0-9a-f]{12}", res.stderr)
            assert "FROM localhost/bakectl-fallback/base:" in res.stderr  # resolved, concrete
            # The app was built FROM this project's base, not the store's debian.
            assert _file_in(f"localhost/{tag}", "which-app") == name
        assert len(set(anon)) == 2, anon  # anonymous tags never shared between projects
    finally:
        subprocess.run(["podman", "rmi", "-f", *tags, *set(anon)], capture_output=True)


def test_bake_a_file_that_does_not_parse_is_bad_input(engine, tmp_path):
    (tmp_path / "broken.hcl").write_text('target "x" {\n  dockerfile = "a"\n  tags = [\n}\n')
    res = bakectl("bake", "-f", "broken.hcl", "x", cwd=tmp_path, check=False)
    assert res.returncode == 2, res.stderr
    first, hint = res.stderr.splitlines()
    assert first.startswith("error: bake cannot read the definition: broken.hcl:4"), first
    assert hint.startswith("hint: ")


def test_bake_dry_run_prints_bake_and_the_fallback_and_warns_of_dropped_attributes(
    engine, tmp_path
):
    (tmp_path / "docker-bake.hcl").write_text(
        'target "t" {\n  dockerfile-inline = "FROM scratch\\n"\n  network = "host"\n}\n'
    )
    res = bakectl("bake", "t", "--dry-run", cwd=tmp_path)
    lines = res.stdout.splitlines()
    assert "$ docker buildx bake t" in lines
    assert any(ln.startswith("$ printf %s") and "podman build" in ln for ln in lines) or (
        "podman build" in res.stdout
    )
    assert any("docker-bake.hcl:3: 'network' is set" in ln for ln in lines), res.stdout


def test_bake_dependency_inherits_its_consumers_platform(podman_bases, tmp_path):
    """D1: the dependency was built for the host and the linux/386 consumer found no
    image ('image not known'); now it is built for the consumer's platform."""
    run = uuid.uuid4().hex[:8]
    (tmp_path / "f.txt").write_text(run)  # fresh content: podman's cache ignores platforms
    (tmp_path / "base.Dockerfile").write_text("FROM scratch\nCOPY f.txt /f.txt\n")
    (tmp_path / "app.Dockerfile").write_text("FROM base\nCOPY f.txt /g.txt\n")
    tag = f"localhost/d1-{run}:1"
    (tmp_path / "docker-bake.hcl").write_text(
        'target "base" {\n  dockerfile = "base.Dockerfile"\n}\n'
        'target "app" {\n  dockerfile = "app.Dockerfile"\n'
        '  contexts = { base = "target:base" }\n  platforms = ["linux/386"]\n'
        f'  tags = ["{tag}"]\n}}\n'
    )
    anon = []
    try:
        res = bakectl("bake", "app", "--engine", "podman", cwd=tmp_path)
        anon = re.findall(r"localhost/bakectl-fallback/base:[0-9a-f]{12}", res.stderr)
        for ref in (tag, anon[0]):
            arch = subprocess.run(
                ["podman", "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            assert arch == "linux/386", (ref, arch)
    finally:
        subprocess.run(["podman", "rmi", "-f", tag, *set(anon)], capture_output=True)
