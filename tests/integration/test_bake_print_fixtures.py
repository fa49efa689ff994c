"""The bake fixtures against the real buildx, and the podman fallback run for real.

1. `docker buildx bake --print` on every fixture in tests/fixtures/bake still
   prints what was recorded beside it (so the unit tests translate what buildx
   really prints). record.sh writes a fresh copy to a temp dir for comparison.
2. graph.hcl's --print, translated by bakectl.engine.podman, really builds with
   podman: FROM scratch plus COPY (no base image can be pulled here), a
   `target:` named context, a local-directory context, a dockerfile-inline
   piped into `podman build -f -`. Each printed line runs through `bash -c`,
   as a user pasting it would.

Skips only when the engine is missing and CI is not "true"; under CI=true a
missing engine fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from bakectl.engine.podman import load_print, translate

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bake"
RECORDED = sorted(p.name for p in FIXTURES.glob("*.print.json"))


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _require(argv: list[str], what: str) -> None:
    if _works(argv):
        return
    msg = f"{what} is not available ({' '.join(argv)} failed)"
    if os.environ.get("CI") == "true":
        pytest.fail(msg + " -- under CI=true integration tests must run")
    pytest.skip(msg)


def _bake_env(**extra: str) -> dict[str, str]:
    """The caller's environment without what bake would read into the fixtures."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BAKECTL_FX_") and k != "SOURCE_DATE_EPOCH"
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def fresh_prints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _require(["docker", "buildx", "version"], "docker buildx")
    out = tmp_path_factory.mktemp("bake-print")
    res = subprocess.run(
        ["bash", str(FIXTURES / "record.sh"), str(out)],
        env=_bake_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, f"record.sh failed:\n{res.stdout}\n{res.stderr}"
    return out


def test_record_script_covers_every_recorded_fixture(fresh_prints: Path) -> None:
    assert sorted(p.name for p in fresh_prints.glob("*.print.json")) == RECORDED


def _groups_unordered(printed: dict) -> dict:
    for group in (printed.get("group") or {}).values():
        group["targets"] = sorted(group.get("targets") or [])
    return printed


@pytest.mark.parametrize("name", RECORDED)
def test_bake_print_still_matches_the_recording(fresh_prints: Path, name: str) -> None:
    # No field of these fixtures is volatile (no timestamps, no absolute paths,
    # environment-fed variables cleared by record.sh), so the match is exact but
    # for one thing: buildx 0.13 lists a matrix's expanded targets in a group in
    # Go map order (seen: 3 runs in 15 differ), so group members compare as sets.
    fresh = _groups_unordered(json.loads((fresh_prints / name).read_text()))
    recorded = _groups_unordered(json.loads((FIXTURES / name).read_text()))
    assert fresh == recorded, f"re-record with tests/fixtures/bake/record.sh: {name} changed"


# -- the podman fallback, built ------------------------------------------------------------


def _podman(*args: str) -> str:
    res = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"podman {' '.join(args)}:\n{res.stderr}"
    return res.stdout


def _files_in(ref: str, tmp_path: Path) -> set[str]:
    """Regular files in an image, read from `podman image save` (works rootless too)."""
    archive = tmp_path / (uuid.uuid4().hex + ".tar")
    _podman("image", "save", "--format", "docker-archive", "-o", str(archive), ref)
    files: set[str] = set()
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                files |= {m.name.lstrip("./") for m in inner.getmembers() if m.isfile()}
    return files


def test_translated_graph_builds_with_podman(tmp_path: Path) -> None:
    _require(["docker", "buildx", "version"], "docker buildx")
    _require(["podman", "version"], "podman")
    repo = f"bakectl-fixture-{uuid.uuid4().hex[:10]}"  # nothing else in the store has it
    res = subprocess.run(
        ["docker", "buildx", "bake", "-f", "graph.hcl", "--print"],
        cwd=FIXTURES,
        env=_bake_env(BAKECTL_FX_REPO=repo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    tr = translate(load_print(res.stdout), cwd=FIXTURES)
    assert tr.order == ["base", "app", "inline"]
    assert tr.warnings == []
    base, app, inline = (f"localhost/{repo}/graph-{t}:1" for t in ("base", "app", "inline"))
    created = [base, app, f"localhost/{repo}/graph-app:latest", inline]
    try:
        for step in tr.steps:
            line = step.shell()
            run = subprocess.run(
                ["bash", "-c", line], cwd=FIXTURES, capture_output=True, text=True, timeout=300
            )
            assert run.returncode == 0, f"$ {line}\n{run.stdout}\n{run.stderr}"

        info = {ref: json.loads(_podman("image", "inspect", ref))[0] for ref in created}
        assert set(info[app]["RepoTags"]) == {app, f"localhost/{repo}/graph-app:latest"}
        assert info[base]["Labels"] == {
            "bakectl.fixture.kind": "base",
            "org.opencontainers.image.source": "bakectl-fixture",
        }
        assert info[app]["Labels"] == {
            "bakectl.fixture.kind": "app",
            "bakectl.fixture.greeting": "hi",  # the build arg reached the Dockerfile
            "org.opencontainers.image.source": "bakectl-fixture",
        }
        # --format docker: the HEALTHCHECK survives (podman's OCI default drops it)
        assert info[app]["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json"
        assert info[app]["Healthcheck"]["Test"] == ["CMD", "/app/healthy"]
        assert info[inline]["Healthcheck"]["Test"] == ["CMD", "/app/healthy"]

        # target: contexts: each image is built on the one before it
        layers = {ref: info[ref]["RootFS"]["Layers"] for ref in (base, app, inline)}
        assert layers[app][: len(layers[base])] == layers[base]
        assert layers[inline][: len(layers[app])] == layers[app]
        assert len(layers[inline]) == len(layers[base]) + 3

        # the same files `docker buildx bake` puts in the image: the local-dir context
        # `extra` is there, and app.Dockerfile.dockerignore kept notes.private out
        assert _files_in(inline, tmp_path) == {
            "base/hello.txt",
            "app/app.Dockerfile",
            "app/app.Dockerfile.dockerignore",
            "app/app.txt",
            "app/extra.txt",
            "inline/hello.txt",
        }
    finally:
        subprocess.run(
            ["podman", "rmi", "--force", "--ignore", *created], capture_output=True, timeout=120
        )
    for ref in created:
        assert not _works(["podman", "image", "exists", ref]), f"{ref} was not removed"
