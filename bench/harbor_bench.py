"""Harbor side by side: the same task folder, oracle and nop at -n 2, Harbor's docker environment vs bakectl.

Generates a Harbor dataset in a temporary directory (three small tasks: a file to
write, words to count, a sum to compute; Dockerfile FROM debian:bookworm-slim, the
image `bakectl images bootstrap` built locally, since nothing can be pulled here;
task.toml with no [agent] user, so both tools run the agent as the image's user,
root). Then, in one process, for each tool:

    cold   a Dockerfile no builder has seen (a fresh ENV nonce line), images built
    warm   the same folder again, images reused

each pass running the oracle and then the nop agent with -n 2:

    harbor   harbor run -p DS -a oracle|nop -n 2 -e docker -o JOBS --job-name NAME -q
    bakectl  bakectl run -p DS --tasks all -a oracle|nop -n 2 -o JOBS -q

and compares the rewards per task (Harbor's trial result.json verifier_result.rewards;
bakectl's result.json rewards): the oracle must score 1 and the nop 0 on every task,
and the two tools must agree. Target: bakectl at least 5x faster, cold and warm.

What this sandbox needs, and what was used:

- Harbor is the `harbor` package from PyPI (Python >= 3.12), in a venv outside the
  repository: --harbor (default /tmp/harbor-venv/bin/harbor; make it with pyenv's
  3.12: `python3.12 -m venv /tmp/harbor-venv && /tmp/harbor-venv/bin/pip install harbor`).
- Harbor's docker environment drives `docker compose` (v2): scripts/setup-compose.sh
  installs Debian 13's docker-compose with the low apt pin (the bench runs it when
  `docker compose version` fails).
- No network: Harbor's answer to allow_internet = false is its egress-control sidecar,
  an image it builds FROM a registry image and a kernel probe it runs from another,
  neither of which can be pulled here. So the tasks keep Harbor's default
  (allow_internet = true: no sidecar) and Harbor is given its own compose overlay for
  no network, environments/docker/docker-compose-no-network.yaml from the installed
  package (`services: main: network_mode: none`), with --extra-docker-compose. Its
  main container then has no network at all; bakectl runs the same folder as written
  (allow_internet = true: the run's own network, reaching out). Neither the tasks nor
  the verifiers use the network.
- LITELLM_LOCAL_MODEL_COST_MAP=True for Harbor: its litellm would otherwise try to fetch a
  model price list from GitHub (unreachable here) with retries on every start.
- Harbor stops each trial with `docker compose down --rmi local` (its default --delete):
  the keep-alive `sleep infinity` as PID 1 ignores SIGTERM, so docker waits its 10 s stop
  timeout per trial; its warm pass rebuilds each trial's image from the build cache.
  bakectl's environment container runs with an init and stops at once.
- Harbor's build is `docker compose build` on the engine's default builder; bakectl's is
  `docker buildx bake`. The cold pass of each tool gets its own nonce so neither reuses
  the other's layers; the base image is local for both.

    python bench/harbor_bench.py [--harbor PATH] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _util import BAKECTL, REPO

sys.path.insert(0, str(REPO))

from tests.support.images import remove_images  # noqa: E402

NAMESPACE = "bakectl-bench-harbor"
TARGET = 5.0
N = 2
WHY: list[str] = []  # what each error was, printed at the end

TASKS = {
    "hbench-hello": (
        "Write the text `hello, bench` (and a newline) to /app/hello.txt.\n",
        "echo 'hello, bench' > /app/hello.txt\n",
        '[ "$(cat /app/hello.txt 2>/dev/null)" = "hello, bench" ]',
        "",
    ),
    "hbench-words": (
        "Count the words in /app/poem.txt; write the number to /app/count.txt.\n",
        "wc -w < /app/poem.txt > /app/count.txt\n",
        '[ "$(tr -d "[:space:]" < /app/count.txt 2>/dev/null)" = 9 ]',
        "RUN printf 'the kettle sings\\nupon the stove while rain taps\\n' > /app/poem.txt\n",
    ),
    "hbench-sum": (
        "Sum the numbers in /app/numbers.txt (one a line); write the sum to /app/sum.txt.\n",
        "awk '{s += $1} END {print s}' /app/numbers.txt > /app/sum.txt\n",
        '[ "$(tr -d "[:space:]" < /app/sum.txt 2>/dev/null)" = 60 ]',
        "RUN printf '10\\n20\\n30\\n' > /app/numbers.txt\n",
    ),
}


def generate(ds: Path) -> None:
    for name, (instruction, solve, check, _) in TASKS.items():
        t = ds / name
        for sub in ("environment", "tests", "solution"):
            (t / sub).mkdir(parents=True)
        (t / "task.toml").write_text(
            'version = "1.0"\n[agent]\ntimeout_sec = 120.0\n[verifier]\ntimeout_sec = 60.0\n'
            "[environment]\ncpus = 1\nmemory_mb = 512\n"
        )
        (t / "instruction.md").write_text(instruction)
        (t / "solution" / "solve.sh").write_text("#!/usr/bin/env bash\nset -eu\n" + solve)
        (t / "tests" / "test.sh").write_text(
            "#!/usr/bin/env bash\nmkdir -p /logs/verifier\n"
            f"if {check}; then echo 1; else echo 0; fi > /logs/verifier/reward.txt\n"
        )
    set_nonce(ds)


def set_nonce(ds: Path) -> None:
    """A Dockerfile line no builder has seen: the next pass builds from scratch."""
    nonce = uuid.uuid4().hex[:12]
    for name, (*_, extra) in TASKS.items():
        (ds / name / "environment" / "Dockerfile").write_text(
            f"FROM debian:bookworm-slim\nENV BENCH_NONCE={nonce}\nWORKDIR /app\n{extra}"
        )


def run(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    # Both exit non-zero when any attempt fails (the nop's reward 0 is not a failure
    # for either, but an error is): the rewards below say what happened.
    if res.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {res.returncode}:\n{res.stderr[-3000:]}")
    return elapsed


def harbor_rewards(job: Path, why: list[str]) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for f in sorted(job.glob("*/result.json")):
        r = json.loads(f.read_text())
        if "task_name" not in r:
            continue
        rewards = (r.get("verifier_result") or {}).get("rewards") or {}
        if "reward" in rewards:
            out[r["task_name"]] = float(rewards["reward"])
            continue
        exc = r.get("exception_info") or {}
        out[r["task_name"]] = "error"
        msg = (exc.get("exception_message") or "").strip().splitlines()
        why.append(
            f"harbor {r['task_name']}: {exc.get('exception_type')}: {msg[-1] if msg else ''}"
        )
    return out


def bakectl_rewards(jobs: Path, why: list[str]) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    for f in sorted(jobs.glob("*/tasks/*/attempt-*/result.json")):
        r = json.loads(f.read_text())
        reward = (r.get("rewards") or {}).get("reward")
        out[r["task"]] = float(reward) if reward is not None else r["status"]
        if reward is None:
            why.append(f"bakectl {r['task']}: {r['status']}: {r['message']}")
    return out


def harbor_pass(harbor: str, ds: Path, jobs: Path, label: str) -> tuple[float, dict]:
    overlay = (
        Path(harbor)
        .resolve()
        .parents[1]
        .glob(
            "lib/python3*/site-packages/harbor/environments/docker/docker-compose-no-network.yaml"
        )
    )
    overlay_path = next(overlay, None)
    if overlay_path is None:
        raise SystemExit("harbor: its docker-compose-no-network.yaml overlay was not found")
    wall, rewards = 0.0, {}
    for agent in ("oracle", "nop"):
        name = f"{label}-{agent}"
        wall += run(
            [
                "env",
                "LITELLM_LOCAL_MODEL_COST_MAP=True",
                harbor,
                "run",
                "-p",
                str(ds),
                "-a",
                agent,
                "-n",
                str(N),
                "-e",
                "docker",
            ]
            + ["--extra-docker-compose", str(overlay_path)]
            + ["-o", str(jobs), "--job-name", name, "-q", "-y"],
            cwd=jobs,
        )
        rewards[agent] = harbor_rewards(jobs / name, WHY)
    return wall, rewards


def bakectl_pass(ds: Path, jobs: Path, label: str) -> tuple[float, dict]:
    wall, rewards = 0.0, {}
    for agent in ("oracle", "nop"):
        out = jobs / f"{label}-{agent}"
        wall += run(
            BAKECTL
            + [
                "run",
                "-p",
                str(ds),
                "--tasks",
                "all",
                "-a",
                agent,
                "-n",
                str(N),
                "-o",
                str(out),
                "-q",
            ]
            + ["--registry", NAMESPACE],
            cwd=jobs,
        )
        rewards[agent] = bakectl_rewards(out, WHY)
    return wall, rewards


def remove_harbor_images() -> None:
    """Harbor's images for the bench's tasks (compose's <task>__<trial>__env-main).

    Harbor removes each trial's image itself (`docker compose down --rmi local`, its
    default --delete); these are what an interrupted pass leaves.
    """
    names = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    ours = [n for n in names if n.split("__")[0] in TASKS and n.endswith("__env-main")]
    if ours:
        subprocess.run(["docker", "rmi", "-f", *ours], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--harbor", default="/tmp/harbor-venv/bin/harbor", help="harbor's CLI")
    ap.add_argument("--keep", action="store_true", help="keep the jobs and the images")
    args = ap.parse_args()

    if not Path(args.harbor).exists():
        raise SystemExit(
            f"harbor: {args.harbor} does not exist; make the venv with Python >= 3.12 "
            "(pyenv's 3.12): python3.12 -m venv /tmp/harbor-venv && "
            "/tmp/harbor-venv/bin/pip install harbor"
        )
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        subprocess.run(["bash", str(REPO / "scripts" / "setup-compose.sh")], check=True)
    version = subprocess.run([args.harbor, "--version"], capture_output=True, text=True)

    tmp = Path(tempfile.mkdtemp(prefix="harbor-bench-"))
    ds = tmp / "harbor-bench-ds"
    generate(ds)
    rows: dict[str, dict[str, tuple[float, dict]]] = {"harbor": {}, "bakectl": {}}
    try:
        for tool in ("harbor", "bakectl"):
            set_nonce(ds)
            jobs = tmp / f"jobs-{tool}"
            jobs.mkdir()
            for label in ("cold", "warm"):
                if tool == "harbor":
                    rows[tool][label] = harbor_pass(args.harbor, ds, jobs, label)
                else:
                    rows[tool][label] = bakectl_pass(ds, jobs, label)
                print(f"#   {tool} {label}: {rows[tool][label][0]:.1f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            remove_harbor_images()
            remove_images(NAMESPACE + "/")

    print(
        f"# {len(TASKS)} tasks, oracle then nop, -n {N}; harbor {version.stdout.strip()} "
        "(docker environment, its no-network compose overlay); wall s per pass"
    )
    print(f"{'pass':<5} {'harbor s':>9} {'bakectl s':>9} {'ratio':>7}  target")
    ok = True
    for label in ("cold", "warm"):
        h, b = rows["harbor"][label][0], rows["bakectl"][label][0]
        met = h / b >= TARGET
        ok &= met
        print(f"{label:<5} {h:>9.1f} {b:>9.1f} {h / b:>6.1f}x  {'>=' if met else '<'} {TARGET:g}x")
    print(f"{'task':<12} {'agent':<7} {'pass':<5} {'harbor':>8} {'bakectl':>8}  same")
    same = True
    for label in ("cold", "warm"):
        for agent in ("oracle", "nop"):
            for task in TASKS:
                h = rows["harbor"][label][1][agent].get(task, "missing")
                b = rows["bakectl"][label][1][agent].get(task, "missing")
                want = 1.0 if agent == "oracle" else 0.0
                agree = h == b == want
                same &= agree
                print(
                    f"{task:<12} {agent:<7} {label:<5} {h!s:>8} {b!s:>8}  {'yes' if agree else 'NO'}"
                )
    print(f"# rewards identical (oracle 1, nop 0 everywhere): {'yes' if same else 'NO'}")
    for line in WHY:
        print(f"#   {line[:300]}")
    if not (ok and same):
        raise SystemExit("# a target was missed")


if __name__ == "__main__":
    main()
