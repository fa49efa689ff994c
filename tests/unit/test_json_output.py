"""--json on list and validate: machine-readable output and nothing else on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bakectl_json(*args: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAKECTL_")}
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_list_and_validate_json() -> None:
    benchmarks = {b["name"]: b for b in bakectl_json("list", "benchmarks")}
    assert benchmarks["arith"]["tasks"] == 5
    agents = {a["name"] for a in bakectl_json("list", "agents")}
    assert {"chat", "oracle"} <= agents
    tasks = bakectl_json("list", "tasks", "arith")
    assert [t["id"] for t in tasks] == ["1", "2", "3", "4", "5"]
    assert all(t["agent_timeout_sec"] > 0 for t in tasks)
    v = bakectl_json("validate")
    assert v["ok"] is True and v["errors"] == [] and v["benchmarks"] == len(benchmarks)
