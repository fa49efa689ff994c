"""bakectl installed from its wheel into a fresh venv runs Harbor task folders in a
directory with no containers/ and no checkout: the runtime, the oracle and nop agents,
the bake defaults and the gateway come from the installed package alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import REPO

pytestmark = pytest.mark.integration

# What a copy of the source tree leaves out: state, caches, build output.
_SKIP = shutil.ignore_patterns(
    ".git", ".bakectl", "build", "dist", "runs", "*.egg-info", "__pycache__", ".*_cache"
)


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 900):
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        )
    return res


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user who never saw this checkout."""
    drop = ("PYTHONPATH", "BAKECTL_ROOT", "BAKECTL_BUILD_DIR", "VIRTUAL_ENV", "REGISTRY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, **extra}


@pytest.fixture(scope="session")
def installed(engine, tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding bakectl installed from a wheel of this tree."""
    top = tmp_path_factory.mktemp("wheel")
    src = top / "src"
    shutil.copytree(REPO, src, ignore=_SKIP)
    env = _clean_env()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(top / "w")], cwd=top, env=env)  # fmt: skip
    wheels = list((top / "w").glob("bakectl-*.whl"))
    assert len(wheels) == 1, wheels
    _run([sys.executable, "-m", "venv", str(top / "venv")], cwd=top, env=env)
    bin_dir = top / "venv" / "bin"
    _run([str(bin_dir / "pip"), "install", "-q", str(wheels[0])], cwd=top, env=env)
    return bin_dir


@pytest.fixture
def namespace():
    ns = f"bakectl-wheel-{uuid.uuid4().hex[:8]}"
    yield ns
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    mine = [r for r in refs if r.startswith(ns + "/")]
    if mine:
        subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True)


def test_wheel_runs_task_folders_in_an_empty_directory(installed, namespace, tmp_path) -> None:
    work = tmp_path / "empty-project"
    ds = work / "my-tasks"
    ds.mkdir(parents=True)
    # Two Harbor task folders, copied as a user would: one with its own Dockerfile, one
    # with a prebuilt [environment] docker_image.
    shutil.copytree(
        REPO / "containers/benchmarks/terminal-tasks/tasks/hello-file", ds / "hello-file"
    )
    shutil.copytree(
        REPO / "containers/benchmarks/harbor-images/prebuilt-image", ds / "prebuilt-image"
    )
    env = _clean_env(REGISTRY=namespace)
    bakectl = str(installed / "bakectl")

    where = _run(
        [str(installed / "python"), "-c", "import bakectl.data; print(bakectl.data.DATA_DIR)"],
        cwd=work,
        env=env,
    ).stdout.strip()
    assert where.startswith(str(installed.parent)), where  # the installed copy, not the tree

    # As `harbor run -p`: every task under PATH when none is picked.
    res = _run([bakectl, "oracle", "-p", "my-tasks"], cwd=work, env=env)
    assert "hello-file      passed 1  failed 0  yes" in res.stdout, res.stdout + res.stderr
    assert "prebuilt-image  passed 1  failed 0  yes" in res.stdout, res.stdout + res.stderr
    # The bake defaults and the runtime came from the package.
    assert f"-f {where}/docker-bake.hcl" in res.stderr
    assert not (work / "containers").exists()

    # The gateway image builds from the installed package too (passthrough: nop never
    # calls the model, so the upstream is never reached).
    res = _run(
        [bakectl, "run", "-p", "my-tasks", "-a", "nop", "-t", "hello-file", "--upstream", "http://127.0.0.1:9"],
        cwd=work,
        env=env,
    )  # fmt: skip
    assert "my-tasks/hello-file x nop: failed reward=0" in res.stdout, res.stdout + res.stderr
    assert f"{namespace}/gateway:h" in res.stderr

    # The job records its task folder, so it is re-scored from a directory that holds no
    # task at all (score finds the tests through job.json, not through a catalog).
    (job,) = [
        d for d in (work / "runs").iterdir() if "nop" in d.name and (d / "job.json").is_file()
    ]
    record = json.loads((job / "job.json").read_text())
    assert record["source"] == {
        "kind": "path",
        "location": str(ds.resolve()),
        "benchmark": "my-tasks",
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = _run([bakectl, "score", str(job)], cwd=elsewhere, env=env)
    assert "hello-file" in res.stdout and "failed" in res.stdout, res.stdout + res.stderr
    assert list(job.glob("tasks/hello-file/attempt-1/rescore-*/result.json")), res.stdout


def test_wheel_path_errors(installed, tmp_path) -> None:
    """-p to a folder that holds no task: exit 2, one error line and a hint, nothing written."""
    (tmp_path / "nothing-here").mkdir()
    res = subprocess.run(
        [str(installed / "bakectl"), "oracle", "-p", "nothing-here", "--all"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert (
        lines[0]
        == "error: -p nothing-here: no task in this folder (no task.toml or instruction.md)"
    )
    assert lines[1].startswith("hint: -p takes a Harbor task folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nothing-here"]
