"""Many trivial tasks on one engine: wall time, pass count and bakectl's peak memory per -n.

Generates a catalog in a temporary directory: one shared-environment benchmark of
100 tasks whose agent writes its answer at once and whose verifier checks it, so
what is measured is bakectl and the engine, not a model. Builds the one eval image
(not timed), then runs all tasks as one batch per -n value, each batch in its own
process (run_rollouts), and reports:

    wall s     the whole batch, start to return
    passed     tasks that passed (the target: every one, at every -n)
    errors     tasks that ended in error, by fault message (network, engine, ...)
    peak MiB   the bakectl process's peak resident memory (VmHWM), threads included
    per task   wall / tasks

Run networks come from bakectl's subnet pool, so -n above docker's ~30 default
address pools does not exhaust them.

    python bench/scale_bench.py [--tasks 100] [-n 8 -n 32 -n 64] [--keep-images]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import REPO, answer_tasks

sys.path.insert(0, str(REPO))

from tests.support.images import remove_images  # noqa: E402

NAMESPACE = "bakectl-bench-scale"

DRIVER = r"""
import json, sys
from pathlib import Path
from bakectl.catalog import Catalog
from bakectl.render import variables
from bakectl.render.renderer import Renderer
from bakectl.runner.batch import run_rollouts

root, out, n, ns = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
renderer = Renderer(Catalog(root), variables.resolve(root, {"REGISTRY": ns}))
ids = renderer.catalog.task_ids("scale")
results = run_rollouts(renderer, "scale", ids, "quick", n_concurrent=n, out_dir=out, build=False)
peak = 0
for line in Path("/proc/self/status").read_text().splitlines():
    if line.startswith("VmHWM:"):
        peak = int(line.split()[1])
print(json.dumps({"peak_kib": peak, "results": [[r.status, r.message] for r in results]}))
"""


def generate(root: Path, tasks: int) -> None:
    (root / "containers").mkdir(parents=True)
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    agent = root / "containers" / "agents" / "quick"
    agent.mkdir(parents=True)
    (agent / "agent.yaml").write_text("name: quick\nversion: '1'\n")
    (agent / "run.sh").write_text("#!/usr/bin/env bash\necho 42 > answer.txt\n")
    bench = root / "containers" / "benchmarks" / "scale"
    (bench / "environment").mkdir(parents=True)
    (bench / "benchmark.yaml").write_text(
        "name: scale\nversion: '1'\nenvironment: shared\nworkdir: /app\n"
    )
    (bench / "environment" / "Dockerfile").write_text(
        "ARG DEBIAN_IMAGE=debian:bookworm-slim\nFROM ${DEBIAN_IMAGE}\nWORKDIR /app\n"
    )
    toml = (
        'version = "1.0"\n[agent]\ntimeout_sec = 300.0\n[verifier]\ntimeout_sec = 300.0\n'
        '[environment]\ncpus = 1\nmemory_mb = 256\nnetwork_mode = "no-network"\n'
    )
    answer_tasks(bench, tasks, toml)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("-n", dest="ns", type=int, action="append", help="workers (repeatable)")
    ap.add_argument("--keep-images", action="store_true", help="keep the bench's images")
    args = ap.parse_args()
    ns = args.ns or [8, 32, 64]

    from bakectl.catalog import Catalog
    from bakectl.render import variables
    from bakectl.render.renderer import Renderer
    from bakectl.runner import ensure_images

    tmp = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    root = tmp / "proj"
    generate(root, args.tasks)
    renderer = Renderer(Catalog(root), variables.resolve(root, {"REGISTRY": NAMESPACE}))
    cat = renderer.catalog
    ensure_images(
        renderer, [renderer.eval(cat.benchmark("scale"), cat.agent("quick"), None)], build=True
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print(f"# {args.tasks} trivial tasks on one engine; {os.cpu_count()} cores")
    print(f"{'-n':>3} {'wall s':>7} {'per task s':>10} {'passed':>7} {'peak MiB':>8}  errors")
    failed = False
    try:
        for n in ns:
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", DRIVER, str(root), str(tmp / f"runs-n{n}"), str(n)]
                + [NAMESPACE],
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"-n {n}: the batch crashed:\n{proc.stderr[-3000:]}")
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            statuses = [s for s, _ in data["results"]]
            passed = statuses.count("passed")
            errors: dict[str, int] = {}
            for s, msg in data["results"]:
                if s != "passed":
                    errors[f"{s}: {msg[:80]}"] = errors.get(f"{s}: {msg[:80]}", 0) + 1
            failed |= passed != len(statuses)
            print(
                f"{n:>3} {wall:>7.1f} {wall / len(statuses):>10.2f} "
                f"{passed:>3}/{len(statuses):<3} {data['peak_kib'] / 1024:>8.0f}  "
                f"{json.dumps(errors) if errors else '-'}",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep_images:
            remove_images(NAMESPACE + "/")
    if failed:
        raise SystemExit("# not every task passed")


if __name__ == "__main__":
    main()
