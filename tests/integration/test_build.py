"""Real builds through docker buildx bake: labels, files, the visibility boundary."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from bakectl.render.renderer import source_url
from tests.integration.conftest import REPO, bakectl, image_labels
from tests.support.images import image_members, remove_images

pytestmark = pytest.mark.integration


@pytest.fixture
def namespace(engine):
    """A fresh image namespace, so a build really builds; removed afterwards."""
    ns = f"itest-{uuid.uuid4().hex[:8]}"
    yield ns
    remove_images(ns + "/")


def built_ref(stderr: str) -> list[str]:
    return [line.split("built: ", 1)[1] for line in stderr.splitlines() if "built: " in line]


def exported_files(ref: str) -> dict[str, bytes]:
    return {n: c for n, c in image_members(ref, 2_000_000).items() if c is not None}


def assert_no_scorer_files(files: dict[str, bytes], task_dirs: list[Path]) -> None:
    secrets = []
    for d in task_dirs:
        for sub in ("tests", "solution"):
            for p in (d / sub).rglob("*"):
                if p.is_file():
                    secrets.append((p, p.read_bytes()))
    assert secrets, "the catalog has scorer files to check against"
    for name, content in files.items():
        for p, secret in secrets:
            assert secret not in content, f"{p} leaked into the image as {name}"


def test_shared_benchmark_eval_image(namespace):
    res = bakectl("build", "eval", "arith", "--agent", "oracle", env={"REGISTRY": namespace})
    assert f"$ REGISTRY={namespace} docker buildx bake" in res.stderr
    (ref,) = built_ref(res.stderr)
    assert ref.startswith(f"{namespace}/eval/arith/oracle:h")
    labels = image_labels(ref)
    assert labels["dev.bakectl.kind"] == "eval"
    assert labels["dev.bakectl.benchmark"] == "arith"
    assert labels["dev.bakectl.agent"] == "oracle"
    assert labels["dev.bakectl.agent-version"] == "1.0"
    assert labels["dev.bakectl.data-revision"] == "1.0"
    for key in ("version", "title", "description"):
        assert labels[f"org.opencontainers.image.{key}"], key
    # No label that changes while the inputs do not (one content tag, one set of bytes);
    # the source is the checkout's public remote, when it has one.
    assert "org.opencontainers.image.revision" not in labels
    assert "org.opencontainers.image.created" not in labels
    source = source_url(REPO)
    assert labels.get("org.opencontainers.image.source", "") == source
    # The base was built in the same graph and is reusable by other agents.
    base = f"{namespace}/{labels['dev.bakectl.base-image']}"  # namespace-free label
    assert image_labels(base)["dev.bakectl.kind"] == "bench"

    files = exported_files(ref)
    assert "opt/bakectl/core/entrypoint.sh" in files
    assert "opt/bakectl/agent/run.sh" in files
    assert "app/data/numbers.txt" in files
    tasks = sorted((REPO / "containers/benchmarks/arith/tasks").iterdir())
    assert_no_scorer_files(files, tasks)
    user = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", ref],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert user == "agent"

    # Up to date: a second build invokes no build at all.
    again = bakectl("build", "eval", "arith", "--agent", "oracle", env={"REGISTRY": namespace})
    assert "up to date: " + ref in again.stderr
    assert "docker buildx bake" not in again.stderr


def test_per_task_eval_image(namespace):
    res = bakectl(
        "build",
        "eval",
        "terminal-tasks",
        "--agent",
        "nop",
        "--task-id",
        "word-count",
        env={"REGISTRY": namespace},
    )
    (ref,) = built_ref(res.stderr)
    assert ref.startswith(f"{namespace}/eval/terminal-tasks/word-count/nop:h")
    labels = image_labels(ref)
    assert labels["dev.bakectl.task"] == "word-count"
    assert labels["dev.bakectl.kind"] == "eval"
    files = exported_files(ref)
    assert "app/data/poem.txt" in files
    assert_no_scorer_files(files, [REPO / "containers/benchmarks/terminal-tasks/tasks/word-count"])


def test_build_all_is_one_bake_invocation(namespace):
    # The built-in agents (the real ones are test_agents'), and no cut into bounded graphs.
    agents = ["chat", "oracle", "nop"]
    args = [a for name in agents for a in ("--agent", name)]
    res = bakectl("build", "all", *args, env={"REGISTRY": namespace, "BAKECTL_BAKE_BATCH": "10000"})
    bake_lines = [ln for ln in res.stderr.splitlines() if ln.startswith("$ ")]
    assert len(bake_lines) == 1 and "docker buildx bake" in bake_lines[0]
    from bakectl.catalog import Catalog

    cat = Catalog(REPO)  # its agents include oracle and nop from bakectl/data
    per_agent = sum(
        1 if cat.benchmark(b).shared else len(cat.task_ids(b)) for b in cat.benchmark_names()
    )
    assert len(built_ref(res.stderr)) == len(agents) * per_agent


def _copy_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "containers", root / "containers")
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    return root


def test_dockerfile_error_is_reported_once_not_retried_under_podman(namespace, tmp_path):
    root = _copy_catalog(tmp_path)
    df = root / "containers/benchmarks/terminal-tasks/tasks/hello-file/environment/Dockerfile"
    df.write_text(df.read_text() + "RUN echo bakectl-broken-step && exit 3\n")
    res = bakectl(
        "build",
        "eval",
        "terminal-tasks",
        "--agent",
        "nop",
        "-t",
        "hello-file",
        env={"REGISTRY": namespace, "BAKECTL_ROOT": str(root)},
        check=False,
    )
    assert res.returncode == 1
    assert "error: docker buildx bake failed" in res.stderr
    assert "podman" not in res.stderr
    assert "Traceback" not in res.stderr


def test_bake_tags_match_bakectl_names(engine, tmp_path):
    """The tags bake computes from docker-bake.hcl equal the names bakectl checks."""
    res = bakectl(
        "build",
        "eval",
        "arith",
        "--agent",
        "nop",
        "--dry-run",
        "--registry",
        "127.0.0.1:5999/x",
        "--no-cache",
    )
    line = next(ln for ln in res.stdout.splitlines() if "docker buildx bake" in ln)
    bake_file = line.split(" -f ")[1].split()[0]
    printed = subprocess.run(
        [
            "docker",
            "buildx",
            "bake",
            "-f",
            bake_file,
            "-f",
            str(REPO / "docker-bake.hcl"),
            "--print",
            "eval__arith__nop",
        ],
        env={**os.environ, "REGISTRY": "127.0.0.1:5999/x"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tags = json.loads(printed)["target"]["eval__arith__nop"]["tags"]
    assert len(tags) == 1 and tags[0].startswith("127.0.0.1:5999/x/eval/arith/nop:h")
