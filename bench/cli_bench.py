"""CLI latency: `bakectl --help`, a no-op build, and a dry-run on a huge catalog.

Targets (issue 2): --help < 0.3 s; no-op build of an up-to-date eval image
< 0.5 s median; dry-run of one eval image on 200 benchmarks x 500 tasks < 0.5 s
median. The plain `python -c pass` start-up is printed alongside as the floor.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import BAKECTL, REPO, generate_catalog, median_of, timed

RUNS = 15


def main() -> None:
    floor, _ = median_of([sys.executable, "-c", "pass"], RUNS)
    print(f"python start-up (floor)          median {floor * 1000:7.1f} ms")
    med, worst = median_of([*BAKECTL, "--help"], RUNS)
    print(
        f"bakectl --help                   median {med * 1000:7.1f} ms  max {worst * 1000:.1f}"
        f"  ({med / floor:.1f}x floor)  target < 300 ms"
    )

    subprocess.run(
        [*BAKECTL, "build", "eval", "arith", "--agent", "oracle"],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    med, worst = median_of([*BAKECTL, "build", "eval", "arith", "--agent", "oracle"], RUNS)
    print(
        f"no-op build eval (up to date)    median {med * 1000:7.1f} ms  max {worst * 1000:.1f}"
        "  target < 500 ms"
    )

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "catalog"
        start = time.perf_counter()
        generate_catalog(root, 200, 500)
        print(f"generated 200 x 500 catalog in {time.perf_counter() - start:.1f} s")
        env = {"BAKECTL_ROOT": str(root), "BAKECTL_BUILD_DIR": str(Path(tmp) / "build")}
        argv = [
            *BAKECTL,
            "build",
            "eval",
            "bench-150",
            "--agent",
            "nop",
            "--task-id",
            "task-250",
            "--dry-run",
            "--no-cache",
        ]
        timed(argv, env)  # warm the page cache once
        med, worst = median_of(argv, RUNS, env)
        print(
            f"dry-run 1 eval on 200x500        median {med * 1000:7.1f} ms  "
            f"max {worst * 1000:.1f}  target < 500 ms"
        )
        small = {"BAKECTL_BUILD_DIR": str(Path(tmp) / "build2")}
        argv_small = [
            *BAKECTL,
            "build",
            "eval",
            "terminal-tasks",
            "--agent",
            "nop",
            "--task-id",
            "hello-file",
            "--dry-run",
            "--no-cache",
        ]
        med_small, _ = median_of(argv_small, RUNS, small)
        print(
            f"dry-run 1 eval, example catalog  median {med_small * 1000:7.1f} ms  "
            f"ratio huge/small {med / med_small:.2f} (1.0 = cost independent of catalog size)"
        )


if __name__ == "__main__":
    main()
