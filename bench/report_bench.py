"""Report, gate and the results page on a 10,000-task job, read from the typed records.

Writes two job directories (a job and its baseline) of N tasks each with the record models
(tests/support/job_records.py): job.json, tasks/<task>/attempt-1/{run.json,result.json},
a trace.jsonl of 4 exchanges and an agent log per task, some failed, errored, timed-out,
re-scored and missing tasks. Then times the whole CLI command, median of several runs:

    bakectl report JOB --format json
    bakectl gate JOB --baseline BASE --min-pass-rate 0.5 --max-pass-rate-drop 0.1 ...
    bakectl report JOB --format html -o page.html
    headless Chromium: open page.html until the task table is drawn (when playwright and
    /usr/bin/chromium are there)

next to the floor: `python -c pass` and `bakectl --help`. Targets: report and gate under
500 ms, the page under 2 s to write. No speed machinery: report reads each result.json
with read_record, one after the other.

    python bench/report_bench.py [--tasks 10000] [--runs 5] [--dir /tmp/report-bench]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _util import BAKECTL, REPO, timed

sys.path.insert(0, str(REPO))

from tests.support.chromium import ARGS, CHROMIUM  # noqa: E402
from tests.support.job_records import Att, write_job  # noqa: E402


def _trace(task: int) -> list[dict]:
    out = []
    for i in range(4):
        msgs = [
            {"role": "user", "content": f"Task {task}: step {j}. " + "lorem " * 40}
            for j in range(i + 1)
        ]
        out.append(
            {
                "seq": i,
                "endpoint": "/v1/chat/completions",
                "status": 200,
                "request": {"model": "m", "messages": msgs},
                "response": {
                    "choices": [{"message": {"role": "assistant", "content": "ok " * 40}}]
                },
                "usage": {"prompt_tokens": 100 + i, "completion_tokens": 20 + i},
            }
        )
    return out


def _attempts(n: int, seed: int) -> list[Att]:
    out = []
    for t in range(n):
        name = f"task-{t:05d}"
        pick = (t * 7 + seed) % 20
        common = {"tokens": (400 + t % 50, 80), "seconds": 3.0 + t % 7, "trace": _trace(t)}
        common["agent_log"] = f"agent log of {name}\n" * 20
        if pick == 0:
            out.append(
                Att(
                    name,
                    "error",
                    fault=("replay_miss", "1 request(s) not in the fixture"),
                    **common,
                )
            )
        elif pick == 1:
            out.append(
                Att(name, "timeout", fault=("agent_timeout", "the agent timed out"), **common)
            )
        elif pick == 2:
            out.append(Att(name, "passed", missing=True))
        elif pick < 8:
            out.append(Att(name, "failed", rewards={"reward": 0.0, "acc": 0.4}, **common))
        elif pick == 8:
            out.append(
                Att(name, "failed", rewards={"reward": 0.0}, rescore={"reward": 1.0}, **common)
            )
        else:
            out.append(Att(name, "passed", rewards={"reward": 1.0, "acc": 1.0}, **common))
    return out


def _render_ms(page: Path) -> float | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(CHROMIUM).exists():
        return None
    times = []
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="bakectl-bench-chromium-"),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
        )
        tab = ctx.new_page()
        for _ in range(3):
            start = time.perf_counter()
            tab.goto(page.resolve().as_uri())
            tab.wait_for_selector("body[data-ready='1']", timeout=60_000)
            times.append(time.perf_counter() - start)
        ctx.close()
    return statistics.median(times) * 1000


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """(median wall time, median cpu time: user + sys of the command)."""
    walls, cpus = [], []
    for _ in range(runs):
        before = _cpu()
        walls.append(timed(argv, env))
        cpus.append(_cpu() - before)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "report-bench")
    a = ap.parse_args()
    root = a.dir
    job, base = root / f"job-{a.tasks}", root / f"base-{a.tasks}"
    if not (job / "job.json").is_file() or not (base / "job.json").is_file():
        shutil.rmtree(root, ignore_errors=True)
        start = time.perf_counter()
        write_job(job, _attempts(a.tasks, 0))
        write_job(base, _attempts(a.tasks, 3))
        print(f"wrote 2 jobs of {a.tasks} tasks in {time.perf_counter() - start:.1f} s ({root})")
    env = {"PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    page = root / "page.html"
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("bakectl --help", [*BAKECTL, "--help"]),
        ("report --format json", [*BAKECTL, "report", str(job), "--format", "json"]),
        (
            "gate (4 checks)",
            [
                *BAKECTL,
                "gate",
                str(job),
                "--baseline",
                str(base),
                "--min-pass-rate",
                "0.1",
                "--max-pass-rate-drop",
                "0.5",
                "--max-token-increase",
                "50",
                "--max-runtime-increase",
                "50",
            ],
        ),
        (
            "report --format html -o",
            [*BAKECTL, "report", str(job), "--format", "html", "-o", str(page)],
        ),
    ]
    floor = None
    print(f"{a.tasks} tasks, median of {a.runs} runs of the whole command")
    print(f"  {'':26} {'wall':>8}  {'cpu':>8}  cpu / python's")
    for name, argv in rows:
        wall, cpu = measure(argv, a.runs, env)
        floor = floor or cpu
        print(f"  {name:<26} {wall * 1000:6.0f} ms  {cpu * 1000:6.0f} ms  {cpu / floor:5.1f}x")
    print(f"  (load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus)")
    print(f"  page size                  {page.stat().st_size / 1e6:7.1f} MB")
    ms = _render_ms(page)
    if ms is None:
        print("  chromium render            (skipped: no playwright or /usr/bin/chromium)")
    else:
        print(f"  chromium render            {ms:7.0f} ms  (open file until the table is drawn)")


if __name__ == "__main__":
    main()
