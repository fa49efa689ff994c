"""Batch rollouts: wall time at -n 1 and -n 4, the speed-up, and bakectl's per-task overhead.

Generates a catalog in a temporary directory: one shared-environment benchmark of
20 tasks, an agent whose run.sh sleeps 2 s (a stand-in for waiting on a model) and
writes its answer, and a trivial verifier. Builds the images once (not timed), then
runs the same 20 tasks as one batch per -n value, in this process, through
bakectl.runner.batch.run_rollouts:

    wall time      the whole batch, start to return
    speed-up       wall(-n 1) / wall(-n N)
    overhead       per task, from run.json timings: total - agent - verifier
                   (network, health, collecting logs and artifacts, cleanup)
    start cost     per task: the agent phase minus the agent's own sleep
                   (docker run + wait + container exit)
    non-model      per task: total - the agent's sleep (all a task costs besides the model,
                   the verifier's snapshot and container included)

Targets: overhead p90 at most 0.6 s a task; a speed-up near the worker count for tasks
that wait on a model.

    python bench/batch_bench.py [--tasks 20] [--sleep 2] [-n 1 -n 4] [--keep-images]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _util import REPO, answer_tasks

sys.path.insert(0, str(REPO))

from tests.support.images import remove_images  # noqa: E402

NAMESPACE = "bakectl-bench-batch"
TARGET_OVERHEAD = 0.6  # p90 at -n 4: the Harbor issue's target for the exec run model (was 0.5)


def generate(root: Path, tasks: int, sleep: float) -> None:
    (root / "containers").mkdir(parents=True)
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    agent = root / "containers" / "agents" / "waiter"
    agent.mkdir(parents=True)
    (agent / "agent.yaml").write_text("name: waiter\nversion: '1'\n")
    (agent / "run.sh").write_text(
        f"#!/usr/bin/env bash\nsleep {sleep:g}  # the model thinks\necho 42 > answer.txt\n"
    )
    bench = root / "containers" / "benchmarks" / "latency"
    (bench / "environment").mkdir(parents=True)
    (bench / "benchmark.yaml").write_text(
        "name: latency\nversion: '1'\nenvironment: shared\nworkdir: /app\n"
    )
    (bench / "environment" / "Dockerfile").write_text(
        "ARG DEBIAN_IMAGE=debian:bookworm-slim\nFROM ${DEBIAN_IMAGE}\n"
        "WORKDIR /app\nRUN chmod 0777 /app\n"
    )
    toml = (
        'version = "1.0"\n[agent]\ntimeout_sec = 60.0\n[verifier]\ntimeout_sec = 30.0\n'
        "[environment]\ncpus = 1\nmemory_mb = 256\n"
    )
    answer_tasks(bench, tasks, toml)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(q * (len(values) - 1))))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--sleep", type=float, default=2.0, help="the agent's model wait, seconds")
    ap.add_argument("-n", dest="ns", type=int, action="append", help="workers (repeatable)")
    ap.add_argument("--keep-images", action="store_true", help="keep the bench's images")
    args = ap.parse_args()
    ns = args.ns or [1, 4]

    from bakectl.catalog import Catalog
    from bakectl.render import variables
    from bakectl.render.renderer import Renderer
    from bakectl.runner import ensure_images
    from bakectl.runner.batch import run_rollouts

    tmp = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    root = tmp / "proj"
    generate(root, args.tasks, args.sleep)
    renderer = Renderer(Catalog(root), variables.resolve(root, {"REGISTRY": NAMESPACE}))
    cat = renderer.catalog
    ids = cat.task_ids("latency")
    image = renderer.eval(cat.benchmark("latency"), cat.agent("waiter"), None)
    ensure_images(renderer, [image], build=True)

    print(f"# {len(ids)} tasks, agent sleeps {args.sleep:g} s; {os.cpu_count()} cores")
    print(
        f"{'-n':>3} {'wall s':>7} {'speed-up':>8} {'overhead med':>12} {'p90':>6} "
        f"{'start med':>9} {'non-model med':>13} {'setup med':>9} {'cleanup med':>11}  passed"
    )
    walls: dict[int, float] = {}
    try:
        for n in ns:
            start = time.perf_counter()
            results = run_rollouts(
                renderer,
                "latency",
                ids,
                "waiter",
                n_concurrent=n,
                out_dir=tmp / f"runs-n{n}",
                build=False,
            )
            walls[n] = time.perf_counter() - start
            over, start_cost, setup, cleanup, non_model = [], [], [], [], []
            for r in results:
                t = json.loads((r.run_dir / "run.json").read_text())["timings"]
                over.append(t["total"] - t.get("agent", 0) - t.get("verifier", 0))
                start_cost.append(t.get("agent", 0) - args.sleep)
                non_model.append(t["total"] - args.sleep)
                setup.append(t.get("setup", 0))
                cleanup.append(t.get("cleanup", 0))
            passed = sum(r.status == "passed" for r in results)
            speedup = walls[ns[0]] / walls[n]
            print(
                f"{n:>3} {walls[n]:>7.1f} {speedup:>7.2f}x {statistics.median(over):>11.2f}s "
                f"{pct(over, 0.9):>5.2f}s {statistics.median(start_cost):>8.2f}s "
                f"{statistics.median(non_model):>12.2f}s "
                f"{statistics.median(setup):>8.2f}s {statistics.median(cleanup):>10.2f}s  "
                f"{passed}/{len(results)}",
                flush=True,
            )
            if passed != len(results):
                bad = next(r for r in results if r.status != "passed")
                raise SystemExit(f"not every task passed: {bad.line()}")
            ok = pct(over, 0.9) <= TARGET_OVERHEAD
            print(f"#   -n {n}: overhead p90 {'<=' if ok else '>'} {TARGET_OVERHEAD} s target")
        if len(ns) > 1:
            ideal = sum(args.sleep for _ in ids)
            print(
                f"# model wait alone: {ideal:.0f} s serial, {ideal / max(ns):.0f} s at -n {max(ns)}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep_images:
            remove_images(NAMESPACE + "/")


if __name__ == "__main__":
    main()
