"""Report and gate latency on a 10,000-task batch.

Generates two synthetic batch directories (a run and its baseline) of 10,000 task results
each, shaped like the real thing: result.json, a run.json of ~7 KB (20 command records),
a trace.jsonl of 4 exchanges (both trace shapes, both usage shapes) and empty log dirs,
with some failed, errored, timed-out, retried and missing tasks. Then times the whole CLI
command, median of several runs:

    bakectl report RUN --format json
    bakectl gate RUN --baseline RUN0 --min-pass-rate 0.5 --max-pass-rate-drop 0.1 ...

next to the floor: `python -c pass` and `bakectl --help`. Target: under 1 s each.

    python bench/report_bench.py [--tasks 10000] [--runs 9] [--dir /tmp/report-bench]

Wall time is what the user waits; cpu (user + sys of the command and its worker processes)
is what it costs, and does not depend on how busy the machine is.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import BAKECTL, REPO


def _write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _exchange(i: int, task: int, wrapped: bool) -> str:
    msgs = [{"role": "user", "content": f"Task {task}: step {i}. " + "lorem ipsum " * 30}]
    if i % 2:
        usage = {"prompt_tokens": 100 + i, "completion_tokens": 20 + i, "total_tokens": 120 + 2 * i}
        body = {
            "id": f"chatcmpl-{task}-{i}",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok " * 40}}],
            "usage": usage,
        }
        endpoint = "/v1/chat/completions"
    else:
        usage = {"input_tokens": 90 + i, "output_tokens": 10 + i}
        body = {
            "id": f"msg_{task}_{i}",
            "type": "message",
            "content": [{"type": "text", "text": "ok " * 40}],
            "usage": usage,
        }
        endpoint = "/v1/messages"
    ex = {
        "endpoint": endpoint,
        "key": f"{endpoint}#{task:06x}{i:02x}",
        "status": 200,
        "usage": usage,
        "request": {"model": "m", "messages": msgs},
        "response": body,
    }
    if wrapped:  # the gateway's --trace line
        return f'{{"n": {i + 1}, "exchange": {json.dumps(ex, sort_keys=True)}}}'
    flat = {"seq": i, **{k: v for k, v in ex.items() if k != "usage"}}
    flat.update(stream=False, latency_ms=12.5, usage=usage)  # the fixture's line
    return json.dumps(flat, separators=(",", ":"))


def _attempt(d: Path, task: str, k: int, status: str, reward: float | None, n: int) -> None:
    for sub in ("agent/logs", "verifier/logs", "artifacts"):
        (d / sub).mkdir(parents=True)
    duration = 30.0 + (n % 17)
    _write(
        d / "result.json",
        {
            "run_id": f"r-{task}-{k}",
            "benchmark": "synth",
            "task": task,
            "agent": "chat",
            "model": "m",
            "status": status,
            "reward": reward,
            "passed": status == "passed",
            "message": {"error": "no reward written (verifier exit code 1)"}.get(status, ""),
            "duration_sec": duration,
        },
    )
    commands = [
        {
            "phase": "setup",
            "command": f"docker run --rm --name bakectl-{task}-{c} --network n "
            + "--label dev.bakectl.run=x " * 4,
            "exit_code": 0,
            "seconds": 0.123,
        }
        for c in range(20)
    ]
    _write(
        d / "run.json",
        {
            "run_id": f"r-{task}-{k}",
            "bakectl_version": "0.1.0",
            "benchmark": "synth",
            "task": task,
            "images": {"eval": {"ref": "bakectl/eval/synth/chat:h1", "id": "sha256:" + "a" * 64}},
            "commands": commands,
            "timings": {"setup": 1.5, "agent": duration - 5, "verifier": 2.5, "total": duration},
            "status": status,
        },
    )
    if status != "error":
        lines = [_exchange(i, n, wrapped=n % 2 == 0) for i in range(4)]
        (d / "trace.jsonl").write_text("\n".join(lines) + "\n")


def generate(root: Path, n_tasks: int, seed: int) -> Path:
    """A batch directory of n_tasks tasks; seed shifts which tasks fail."""
    tasks = [f"task-{i:05d}" for i in range(n_tasks)]
    batch = root / f"batch-{seed}"
    (batch / "tasks").mkdir(parents=True)
    _write(
        batch / "batch.json",
        {
            "kind": "bakectl-batch",
            "version": 1,
            "batch_id": batch.name,
            "benchmark": "synth",
            "agent": "chat",
            "model": "m",
            "tasks": tasks,
            "n_concurrent": 8,
            "attempts": 2,
            "command": ["bakectl", "run", "synth", "--tasks", "all"],
            "started_at": "2026-11-23T12:00:00+00:00",
            "finished_at": "2026-11-23T14:00:00+00:00",
            "provenance": {
                "bakectl_version": "0.1.0",
                "git_commit": "0" * 40,
                "git_dirty": False,
                "data_revision": "1.0",
                "image_digests": {"bakectl/eval/synth/chat:h1": "sha256:" + "a" * 64},
            },
        },
    )
    for n, task in enumerate(tasks):
        m = (n + seed) % 10
        if m == 9:
            continue  # missing
        tdir = batch / "tasks" / task
        k = 1
        if m == 8:  # retried: a transient error first
            _attempt(tdir / "attempt-1", task, 1, "error", None, n)
            k = 2
        status, reward = {
            0: ("failed", 0.0),
            1: ("error", None),
            2: ("timeout", 0.0),
        }.get(m, ("passed", 1.0))
        _attempt(tdir / f"attempt-{k}", task, k, status, reward, n)
    return batch


def timed_cpu(argv: list[str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one whole command; cpu = user + sys of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    res = subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(label: str, argv: list[str], runs: int, note: str = "") -> float:
    samples = [timed_cpu(argv) for _ in range(runs)]
    wall = statistics.median(w for w, _ in samples)
    cpu = statistics.median(c for _, c in samples)
    worst = max(w for w, _ in samples)
    print(
        f"{label:36s} median {wall * 1000:7.1f} ms  max {worst * 1000:7.1f}  "
        f"cpu {cpu * 1000:7.1f} ms  {note}".rstrip()
    )
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--dir", type=Path, help="keep the generated batches here (reused)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        run, base = root / "batch-0", root / "batch-1"
        if not (run / "batch.json").is_file() or not (base / "batch.json").is_file():
            start = time.perf_counter()
            run = generate(root, args.tasks, seed=0)
            base = generate(root, args.tasks, seed=1)
            took = time.perf_counter() - start
            print(f"generated 2 batches of {args.tasks:,} tasks in {took:.1f} s")
        report = [*BAKECTL, "report", str(run), "--format", "json"]
        gate = [
            *BAKECTL,
            "gate",
            str(run),
            "--baseline",
            str(base),
            "--min-pass-rate",
            "0.5",
            "--max-pass-rate-drop",
            "0.1",
            "--max-token-increase",
            "10",
            "--max-runtime-increase",
            "50",
        ]
        timed_cpu(report)  # warm the page cache, and check both commands work
        res = subprocess.run(gate, cwd=REPO, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"gate failed:\n{res.stdout}{res.stderr}")
        print(res.stdout.rstrip())
        n = args.tasks
        print(
            f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.runs} runs each"
        )
        measure("python -c pass (floor)", [sys.executable, "-c", "pass"], args.runs)
        measure("bakectl --help", [*BAKECTL, "--help"], args.runs)
        measure(
            "bakectl report RUN --format json",
            report,
            args.runs,
            f"({n:,} tasks; target < 1000 ms)",
        )
        measure(
            "bakectl gate RUN --baseline RUN0",
            gate,
            args.runs,
            f"({n:,} + {n:,} tasks; target < 1000 ms)",
        )


if __name__ == "__main__":
    main()
