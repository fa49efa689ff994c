"""--dry-run prints every command and runs none that changes state.

A recording shim for docker and podman sits first on PATH: it logs every call
and passes only read-only ones through to the real binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import bakectl

pytestmark = pytest.mark.integration

READ_ONLY = (
    ("buildx", "bake"),  # only with --print, checked below
    ("buildx", "version"),
    ("buildx", "inspect"),
    ("buildx", "ls"),
    ("image", "ls"),
    ("image", "inspect"),
    ("images",),
    ("version",),
    ("info",),
    ("--version",),
)

SHIM = """#!/bin/sh
printf '%s\\n' "$*" >> {log}
case "$*" in
  "buildx bake"*--print*|"buildx version"*|"buildx inspect"*|"buildx ls"*|"image ls"*|\\
  "image inspect"*|images*|version*|info*|--version*) exec {real} "$@" ;;
esac
echo "shim: refused mutating call: $*" >&2
exit 99
"""


@pytest.fixture
def shim_path(tmp_path: Path, engine) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    for tool in ("docker", "podman", "debootstrap", "tar"):
        real = shutil.which(tool)
        if real is None:
            continue
        p = bin_dir / tool
        p.write_text(SHIM.format(log=log, real=real))
        p.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return env, log


def _calls(log: Path) -> list[str]:
    return [ln for ln in log.read_text().splitlines() if ln]


def _assert_read_only(calls: list[str]) -> None:
    for call in calls:
        words = tuple(call.split())
        assert any(words[: len(p)] == p for p in READ_ONLY), f"mutating call: {call}"
        if words[:2] == ("buildx", "bake"):
            assert "--print" in words, f"bake without --print: {call}"


def _images() -> set[str]:
    """The images under the namespaces these commands would write (the shared store
    changes under other users' builds; the shim above refuses any mutating call)."""
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return {r for r in refs if r.startswith(("dryrun-ns/", "127.0.0.1:5999/"))}


@pytest.mark.parametrize(
    "args",
    [
        ["build", "eval", "arith", "--agent", "oracle", "--no-cache"],
        ["build", "eval", "terminal-tasks", "--agent", "nop", "--no-cache"],
        # the built-in agents: the real ones need their vendor caches (test_agents fetches them)
        ["build", "all", "--agent", "chat", "--agent", "oracle", "--agent", "nop", "--no-cache"],
        ["build", "eval", "arith", "--agent", "nop", "--engine", "podman", "--no-cache"],
        ["push", "eval", "arith", "--agent", "nop", "--registry", "127.0.0.1:5999/x"],
        ["images", "bootstrap", "--force"],
    ],
)
def test_dry_run_runs_nothing_mutating(shim_path, args):
    env, log = shim_path
    before = _images()
    res = bakectl(*args, "--dry-run", env={**env, "REGISTRY": "dryrun-ns"})
    _assert_read_only(_calls(log))
    assert _images() == before
    printed = [ln for ln in res.stdout.splitlines() if ln.startswith("$ ")]
    assert printed, res.stdout
    if args[0] == "build" and "podman" not in args:
        assert printed[0].startswith("$ REGISTRY=dryrun-ns docker buildx bake -f ")
        # the podman lines that would run on fallback are printed too
        assert any(ln.startswith("$ podman build ") for ln in printed), res.stdout
    if "podman" in args:
        assert not any("docker buildx bake" in ln and "--print" not in ln for ln in printed)
        assert any(ln.startswith("$ podman build ") for ln in printed)
    if args[0] == "push":
        assert any(
            ln.startswith("$ docker push 127.0.0.1:5999/x/eval/arith/nop:h") for ln in printed
        ), res.stdout
    if args[0] == "images":
        assert any(ln.startswith("$ debootstrap --variant=minbase") for ln in printed)
