"""Task folders (-p) and base-image mapping against the real engine: a digest-pinned FROM
built through a mapping (benchmark.yaml, bakectl.toml, --base-image), a changed mapping
rebuilt, the podman fallback honouring it, and [environment] docker_image tasks."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, bakectl

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "containers" / "benchmarks" / "harbor-images"
PINNED = "python:3.13-slim@sha256:96e54888bedd59e6d34346336c37151be3dc8e43622a036e43d93aa2ede0d336"


def _docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


def _images(prefix: str) -> list[str]:
    out = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return [ref for ref in out if ref.startswith(prefix)]


@pytest.fixture
def ns(engine):
    """A unique image namespace; every image under it is removed afterwards."""
    name = f"bakectl-it-{uuid.uuid4().hex[:8]}"
    yield name
    refs = _images(name + "/") + _images(f"localhost/{name}/")
    if refs:
        _docker("image", "rm", "-f", *refs, check=False)
    podman_refs = subprocess.run(
        ["podman", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    mine = [r for r in podman_refs if f"{name}/" in r]
    if mine:
        subprocess.run(["podman", "image", "rm", "-f", *mine], capture_output=True)


def _stand_in(ns: str, tag: str, marker: str) -> str:
    """A local image that stands in for the pinned Python: the bootstrapped Python image
    plus /standin holding `marker`, so a test can tell which stand-in a build used."""
    ref = f"{ns}/standin-python:{tag}"
    res = subprocess.run(
        ["docker", "build", "-q", "-t", ref, "-"],
        input=f"FROM python:3.11-slim-bookworm\nRUN echo {marker} > /standin\n",
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    return ref


def _dataset(tmp_path: Path, *tasks: str) -> Path:
    """The example's task folders, without its benchmark.yaml (so without its mapping)."""
    ds = tmp_path / "harbor-images-copy"
    ds.mkdir()
    for t in tasks:
        shutil.copytree(EXAMPLE / t, ds / t)
    return ds


def _eval_image(stderr: str) -> str:
    """The eval image a build command reports (`built: X` or `up to date: X`)."""
    for line in stderr.splitlines():
        for said in ("bakectl: built: ", "bakectl: up to date: "):
            if line.startswith(said) and "/eval/" in line:
                return line.removeprefix(said).strip()
    raise AssertionError(f"no eval image reported in:\n{stderr}")


def test_oracle_on_example_benchmark(ns, tmp_path: Path) -> None:
    """harbor-images in the catalog: the pinned FROM through benchmark.yaml's mapping, the
    docker_image task through the local Debian image; oracle 1, nop below 1 on both."""
    res = bakectl(
        "oracle", "harbor-images", "--all", "--out", str(tmp_path / "runs"), env={"REGISTRY": ns}
    )
    assert "pinned-from     passed 1  failed 0  yes" in res.stdout, res.stdout
    assert "prebuilt-image  passed 1  failed 0  yes" in res.stdout, res.stdout


def test_unmapped_pin_fails_and_says_how_to_map(ns, tmp_path: Path) -> None:
    ds = _dataset(tmp_path, "pinned-from")
    res = bakectl("build", "eval", "-p", str(ds), "-a", "nop", env={"REGISTRY": ns}, check=False)
    assert res.returncode == 1, res.stderr
    assert f"could not get base image(s) {PINNED}" in res.stderr
    assert f"--base-image '{PINNED}=IMAGE'" in res.stderr
    assert "fix the Dockerfile" not in res.stderr


def test_mapping_from_flag_config_and_change_rebuilds(ns, tmp_path: Path) -> None:
    ds = _dataset(tmp_path, "pinned-from")
    a = _stand_in(ns, "a", "stand-in-a")
    b = _stand_in(ns, "b", "stand-in-b")
    project = tmp_path / "proj"
    project.mkdir()
    env = {"REGISTRY": ns}

    # bakectl.toml at the project root maps the pin to stand-in a.
    (project / "bakectl.toml").write_text(f'[base_images]\n"{PINNED}" = "{a}"\n')
    first = bakectl("build", "eval", "-p", str(ds), "-a", "nop", env=env, cwd=project)
    image_a = _eval_image(first.stderr)
    assert f"built: {image_a}" in first.stderr
    marker = _docker("run", "--rm", "--entrypoint", "cat", image_a, "/standin").stdout
    assert marker.strip() == "stand-in-a"

    again = bakectl("build", "eval", "-p", str(ds), "-a", "nop", env=env, cwd=project)
    assert f"up to date: {image_a}" in again.stderr

    # --base-image overrides the config: another mapping is another image, rebuilt.
    flag = bakectl(
        "build", "eval", "-p", str(ds), "-a", "nop", "--base-image", f"{PINNED}={b}",
        env=env, cwd=project,
    )  # fmt: skip
    image_b = _eval_image(flag.stderr)
    assert image_b != image_a
    assert f"built: {image_b}" in flag.stderr and "up to date: " + image_b not in flag.stderr
    marker = _docker("run", "--rm", "--entrypoint", "cat", image_b, "/standin").stdout
    assert marker.strip() == "stand-in-b"

    # The same spelled long (docker.io/library/...) is the same reference.
    long = PINNED.replace("python:", "docker.io/library/python:", 1)
    same = bakectl(
        "build", "eval", "-p", str(ds), "-a", "nop", "--base-image", f"{long}={b}",
        env=env, cwd=project,
    )  # fmt: skip
    assert f"up to date: {image_b}" in same.stderr

    # And oracle runs on it, the mapping given as a flag.
    res = bakectl(
        "oracle", "-p", str(ds), "--all", "--base-image", f"{PINNED}={b}",
        "--out", str(tmp_path / "runs"), env=env, cwd=project,
    )  # fmt: skip
    assert "pinned-from  passed 1  failed 0  yes" in res.stdout, res.stdout


def test_podman_fallback_honours_the_mapping(ns, tmp_path: Path, podman) -> None:
    ds = _dataset(tmp_path, "pinned-from")
    a = _stand_in(ns, "p", "stand-in-podman")
    res = bakectl(
        "build", "eval", "-p", str(ds), "-a", "nop", "--engine", "podman",
        "--base-image", f"{PINNED}={a}", env={"REGISTRY": ns}, cwd=tmp_path,
    )  # fmt: skip
    assert f"--build-context {PINNED}=docker-image://{a}" in res.stderr
    image = _eval_image(res.stderr)
    marker = _docker("run", "--rm", "--entrypoint", "cat", image, "/standin").stdout
    assert marker.strip() == "stand-in-podman"


def test_docker_image_neither_local_nor_mapped(ns, tmp_path: Path) -> None:
    ds = _dataset(tmp_path, "prebuilt-image")
    toml = ds / "prebuilt-image" / "task.toml"
    missing = f"{ns}/not-here:1"
    toml.write_text(toml.read_text().replace('"debian:bookworm-slim"', f'"{missing}"'))
    res = bakectl("build", "eval", "-p", str(ds), "-a", "nop", env={"REGISTRY": ns}, check=False)
    assert res.returncode == 2, res.stderr
    assert f"docker_image '{missing}' is neither a local image nor mapped" in res.stderr
    assert f"hint: load or build {missing} locally, or map it" in res.stderr
    assert "$ " not in res.stderr  # nothing ran
    assert not _images(ns + "/")

    # Mapped, it builds from the stand-in.
    res = bakectl(
        "build", "eval", "-p", str(ds), "-a", "nop",
        "--base-image", f"{missing}=debian:bookworm-slim", env={"REGISTRY": ns},
    )  # fmt: skip
    assert "built: " in res.stderr


def test_bundle_of_a_task_folder_keeps_the_mapping(ns, tmp_path: Path) -> None:
    """bundle -p PATH --base-image ...: the bundle's definition holds the named context, and
    run --bundle rebuilds and passes from the bundle alone."""
    ds = _dataset(tmp_path, "pinned-from")
    a = _stand_in(ns, "bundle", "stand-in-bundle")
    out = tmp_path / "bundle"
    bakectl(
        "bundle", "-p", str(ds), "-a", "oracle", "-o", str(out), "--registry", ns,
        "--base-image", f"{PINNED}={a}", cwd=tmp_path,
    )  # fmt: skip
    assert f'"{PINNED}": "docker-image://{a}"' in (out / "bake" / "definition.json").read_text()
    res = bakectl("run", "--bundle", str(out), "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert "harbor-images-copy/pinned-from x oracle: passed reward=1" in res.stdout, res.stdout
