"""Faults on the real engine (issue 9): an unreachable engine, signals to long commands,
and runaway agents against each limit of bakectl/runner/limits.py. Each test checks
that nothing is left running (labelled containers, networks, child processes)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, CatalogLab
from tests.support.polling import containers_of, process_alive, wait_for

pytestmark = pytest.mark.integration

LABEL = "dev.bakectl.run"
# This module's agents carry this mark, which their run ids (and so every container and
# network name) repeat: other engineers' runs on the same engine are not ours to judge.
MARK = "-h9"
FORKBOMB, FLOOD, SLEEPER = (f"{a}{MARK}" for a in ("forkbomb", "flood", "sleeper"))

# Forks until it cannot (each child sleeps), then reports how many it got.
FORK_BOMB = r"""#!/usr/bin/env bash
exec python3 - <<'PY'
import os, time
n = 0
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    n += 1
open("/logs/agent/forks.txt", "w").write(str(n))
PY
"""
# 8 MiB on stdout, 4 MiB into /logs/agent, a 6 MiB artifact and a small one.
FLOOD_SH = r"""#!/usr/bin/env bash
python3 -c "import sys; [sys.stdout.write('flood line %d\n' % i) for i in range(600000)]"
head -c 4194304 /dev/zero > /logs/agent/big.log
head -c 6291456 /dev/urandom > /app/huge.bin
echo small > /app/answer.txt
"""


def _labelled() -> set[str]:
    out = set()
    for argv in (
        ["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format", "c {{.Names}}"],
        ["docker", "network", "ls", "--filter", f"label={LABEL}", "--format", "n {{.Name}}"],
    ):
        lines = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
        out |= {ln for ln in lines if MARK in ln}
    return out


def _children(pid: int) -> list[int]:
    """Every live descendant of pid (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if process_alive(child):
                found.append(child)
                todo.append(child)
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind(engine):
    before = _labelled()
    yield
    assert not (_labelled() - before), f"left behind: {sorted(_labelled() - before)}"


@pytest.fixture(scope="session")
def faults_lab(engine, tmp_path_factory) -> CatalogLab:
    root = tmp_path_factory.mktemp("faults") / "proj"
    shutil.copytree(REPO / "containers", root / "containers")
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    for name, script in (
        (FORKBOMB, FORK_BOMB),
        (FLOOD, FLOOD_SH),
        (SLEEPER, "#!/bin/sh\nsleep 60\n"),
    ):
        d = root / "containers/agents" / name
        d.mkdir()
        (d / "agent.yaml").write_text(f"name: {name}\nversion: '1'\n")
        (d / "run.sh").write_text(script)
    tasks = root / "containers/benchmarks/arith/tasks"
    shutil.copytree(tasks / "1", tasks / "limited")
    toml = tasks / "limited/task.toml"
    toml.write_text(
        toml.read_text().replace("timeout_sec = 120.0", "timeout_sec = 60.0")
        + "\n[bakectl.limits]\npids = 64\nlog_mb = 1\nartifacts_mb = 2\n"
    )
    lab = CatalogLab(root, f"itest-faults-{uuid.uuid4().hex[:8]}")
    from bakectl.runner import ensure_images

    r = lab.renderer()
    cat = r.catalog
    arith = cat.benchmark("arith")
    targets = [r.eval(arith, cat.agent(a), None) for a in (FORKBOMB, FLOOD, SLEEPER)]
    ensure_images(r, targets, build=True)
    yield lab
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    mine = [ref for ref in refs if ref.startswith(lab.namespace + "/")]
    if mine:
        subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True)


def _cli(lab: CatalogLab, *args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", *args],
        env={**os.environ, **lab.env, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _run(lab: CatalogLab, agent: str, out: Path) -> dict:
    res = _cli(
        lab, "run", "arith", "--agent", agent, "-t", "limited", "--no-build", "--out", str(out)
    )
    assert "Traceback" not in res.stderr, res.stderr
    (job_dir,) = out.iterdir()  # every run is a job
    run_dir = job_dir / "tasks" / "limited" / "attempt-1"
    run = json.loads((run_dir / "run.json").read_text())
    return {"res": res, "job": job_dir, "dir": run_dir, "run": run}


# -- runaway agents against each limit ---------------------------------------------------------


def test_fork_bomb_is_stopped_by_the_pids_limit(faults_lab, tmp_path):
    r = _run(faults_lab, FORKBOMB, tmp_path / "runs")
    # The limit is the environment container's, so it holds for everything run in it.
    env_run = next(c["line"] for c in r["run"]["commands"] if c["line"].startswith("docker run -d"))
    assert "--pids-limit 64" in env_run
    forks = int((r["dir"] / "agent" / "logs" / "forks.txt").read_text())
    assert 0 < forks < 64, forks  # stopped by the limit, not by the loop's 2000


def test_log_flood_and_huge_artifact_are_capped(faults_lab, tmp_path):
    r = _run(faults_lab, FLOOD, tmp_path / "runs")
    d, notes = r["dir"], r["run"]["notes"]
    log = (d / "agent" / "container.log").read_bytes()
    assert len(log) <= (1 << 20) + 200, len(log)
    assert b"bytes cut by bakectl" in log
    assert not (d / "agent" / "logs" / "big.log").exists()
    assert not (d / "artifacts" / "huge.bin").exists()
    assert (d / "artifacts" / "answer.txt").read_text() == "small\n"
    joined = "\n".join(notes)
    assert "agent/container.log was" in joined and "log_mb" in joined, notes
    assert "artifacts/ held" in joined and "artifacts_mb" in joined, notes
    assert "agent/logs/ held" in joined, notes


# -- an unreachable engine: one clear line, nothing written -------------------------------------

UNREACHABLE = {"DOCKER_HOST": "unix:///nonexistent"}
ENGINE_DOWN_CASES = {
    "build": ["build", "eval", "arith", "--agent", SLEEPER],
    "run": ["run", "arith", "--agent", SLEEPER, "-t", "1", "--out", "{out}"],
    "batch": ["run", "arith", "--agent", SLEEPER, "--tasks", "all", "--out", "{out}"],
    "score": ["score", "{run}"],
}


@pytest.mark.parametrize("args", ENGINE_DOWN_CASES.values(), ids=list(ENGINE_DOWN_CASES))
def test_engine_unreachable(faults_lab, tmp_path, args):
    out = tmp_path / "runs"
    run_dir = tmp_path / "old-run"
    if "{run}" in args:
        r = _run(faults_lab, SLEEPER, tmp_path / "first")
        shutil.copytree(r["job"], run_dir)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    res = _cli(
        faults_lab,
        *[a.format(out=out, run=run_dir) for a in args],
        env=UNREACHABLE,
        cwd=tmp_path,
    )
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode in (1, 2), (res.returncode, res.stderr)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    assert "not running" in errors[0] and "unix:///nonexistent" in errors[0], errors
    assert [ln for ln in res.stderr.splitlines() if ln.startswith("hint:")]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before, "nothing written"


# -- signals to long commands ------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("form", ["run", "batch"])
def test_signal_stops_everything(faults_lab, tmp_path, sig, form):
    args = ["run", "arith", "--agent", SLEEPER, "--no-build", "--out", str(tmp_path / "runs")]
    args += ["-t", "1"] if form == "run" else ["--tasks", "1,2", "-n", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bakectl.cli.main", *args],
        env={**os.environ, **faults_lab.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(  # this process's own (the engine is shared with other runs)
            lambda: any(n.endswith("-env") for n in containers_of(proc.pid)),
            timeout=120,
            what="the agent container",
        )
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), (proc.returncode, err)
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert errors and f"interrupted by {sig.name}" in errors[-1], err
    assert _children(proc.pid) == []
    assert not [ln for ln in _labelled() if "-env" in ln]
