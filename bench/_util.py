"""Helpers for the benchmarks: timing whole commands, medians, a generated catalog."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BAKECTL = [sys.executable, "-m", "bakectl.cli.main"]


def timed(argv: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> float:
    start = time.perf_counter()
    res = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stderr}")
    return elapsed


def median_of(argv: list[str], runs: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    times = [timed(argv, env) for _ in range(runs)]
    return statistics.median(times), max(times)


def generate_catalog(root: Path, benchmarks: int, tasks: int) -> None:
    """A per-task catalog of benchmarks x tasks, plus the example agents (the runtime, oracle and nop come from bakectl/data)."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(REPO / "containers" / "agents", root / "containers" / "agents")
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    toml = "[agent]\ntimeout_sec = 60.0\n[verifier]\ntimeout_sec = 30.0\n"
    dockerfile = "ARG DEBIAN_IMAGE=debian:bookworm-slim\nFROM ${DEBIAN_IMAGE}\nWORKDIR /app\n"
    for b in range(benchmarks):
        bdir = root / "containers" / "benchmarks" / f"bench-{b:03d}"
        bdir.mkdir(parents=True)
        (bdir / "benchmark.yaml").write_text(
            f"name: bench-{b:03d}\nversion: '1'\nenvironment: per-task\n"
        )
        for t in range(tasks):
            tdir = bdir / "tasks" / f"task-{t:03d}"
            (tdir / "tests").mkdir(parents=True)
            (tdir / "environment").mkdir()
            (tdir / "task.toml").write_text(toml)
            (tdir / "instruction.md").write_text(f"Task {t} of bench {b}.\n")
            (tdir / "tests" / "test.sh").write_text("echo 1 > /logs/verifier/reward.txt\n")
            (tdir / "environment" / "Dockerfile").write_text(dockerfile + f"ENV T={t}\n")


def answer_tasks(bench: Path, tasks: int, task_toml: str) -> None:
    """`tasks` trivial tasks under bench/tasks/ (t000, t001, ...): write 42 to answer.txt,
    scored by a one-line verifier."""
    for i in range(tasks):
        d = bench / "tasks" / f"t{i:03d}"
        (d / "tests").mkdir(parents=True)
        (d / "task.toml").write_text(task_toml)
        (d / "instruction.md").write_text(f"Task {i}: write 42 to answer.txt.\n")
        (d / "tests" / "test.sh").write_text(
            "#!/usr/bin/env bash\n"
            '[ "$(cat /app/answer.txt)" = 42 ] && echo 1 > /logs/verifier/reward.txt '
            "|| echo 0 > /logs/verifier/reward.txt\n"
        )
