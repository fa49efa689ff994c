"""`bakectl view`'s listing of a folder of big jobs: the first page and a reload.

Writes J jobs of T tasks each (tests/support/job_records.py: job.json, run.json and
result.json per task, summary.json per job), starts `bakectl view DIR` on a free port
and times `GET /` (the listing), first and again (median of several), next to what a
listing that loads every job costs (report.load_job + summarize per job, in-process:
what the listing did before it read summary.json alone).

    python bench/view_bench.py [--jobs 8] [--tasks 2000] [--runs 5] [--dir /tmp/view-bench]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _util import BAKECTL, REPO

sys.path.insert(0, str(REPO))

from tests.support.job_records import Att, write_job  # noqa: E402


def _jobs(root: Path, n_jobs: int, n_tasks: int) -> list[Path]:
    from bakectl.results.report import write_summary

    out = []
    for j in range(n_jobs):
        atts = [
            Att(f"task-{t:05d}", "passed" if (t + j) % 3 else "failed", rewards={"reward": 1.0})
            for t in range(n_tasks)
        ]
        d = write_job(root / f"job-{j:02d}", atts)
        write_summary(d)
        out.append(d)
    return out


def _get_ms(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        r.read()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/view-bench"))
    a = ap.parse_args()
    shutil.rmtree(a.dir, ignore_errors=True)
    jobs = _jobs(a.dir, a.jobs, a.tasks)

    from bakectl.results.report import load_job, summarize

    loads = []
    for _ in range(a.runs):
        start = time.perf_counter()
        for d in jobs:
            summarize(load_job(d))
        loads.append((time.perf_counter() - start) * 1000)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*BAKECTL, "view", str(a.dir), "--port", str(port)],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        proc.stderr.readline()  # "view: serving ... on URL": it listens
        url = f"http://127.0.0.1:{port}/"
        first = _get_ms(url)
        again = statistics.median(_get_ms(url) for _ in range(a.runs))
        page = _get_ms(f"{url}jobs/{jobs[0].name}/")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"{a.jobs} jobs x {a.tasks} tasks under {a.dir}")
    print(f"listing, first GET /:                      {first:8.1f} ms")
    print(f"listing, again (median of {a.runs}):             {again:8.1f} ms")
    print(f"every job loaded and summarized (median):  {statistics.median(loads):8.1f} ms")
    print(f"one job's page, GET /jobs/{jobs[0].name}/:       {page:8.1f} ms")
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
