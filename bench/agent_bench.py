"""Installed agents: what the shared prefix layer saves, image sizes, replayed-run wall time.

One run, side by side:

1. adding one real agent (default claude-code) to every task of a per-task benchmark (a
   clone of terminal-tasks, each task image made unique so the build cache holds none of
   the eval images): the first eval image (it makes the agent layer), then T(1), one more
   built alone, and T(n), n more in one command (one bake graph); the marginal cost per
   image (T(n) - T(1)) / (n - 1); the bytes each
   eval image adds beyond its task image, with the agent layer counted once (by digest),
   and the local store's own count; against the per-image install it replaces (the same
   vendored install RUN inside each task image: its build time and bytes per image);
2. agent image size per installed agent (its prefix + files);
3. per agent: a replayed run's wall time (`bakectl run --replay` of its arith-1 fixture)
   against the agent's own start-up (`<agent> --version` in its eval image).

Targets: the N-th eval image builds in <= 1 s and adds <= 1 MB of new layers. Prints
figures; asserts nothing. Needs the agents fetched (`bakectl agents fetch A`).

    python bench/agent_bench.py [--agent claude-code] [-n 6] [--agents claude-code,codex,...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bakectl.agents.layer import INSTALLER_DIR  # noqa: E402
from bakectl.catalog import Catalog  # noqa: E402
from bakectl.render import variables  # noqa: E402
from bakectl.render.renderer import Renderer  # noqa: E402

BENCH = "terminal-tasks"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    if check and res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return res


def bakectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(sys.executable, "-m", "bakectl.cli.main", *args, check=check)


def inspect(ref: str) -> dict:
    return json.loads(sh("docker", "image", "inspect", ref).stdout)[0]


def mb(n: float) -> str:
    return f"{n / 1e6:8.1f} MB"


def renderer() -> Renderer:
    return Renderer(Catalog(REPO), variables.resolve(REPO, {}))


def refs(res: subprocess.CompletedProcess[str], kind: str) -> dict[str, str]:
    """Task id -> image ref, from bakectl's `built:` / `up to date:` lines for `kind` images."""
    out = {}
    for line in res.stderr.splitlines():
        ref = line.rsplit(" ", 1)[-1]
        parts = ref.split(":", 1)[0].split("/")
        if (line.startswith("bakectl: built: ") or "up to date: " in line) and kind in parts:
            out[parts[parts.index(kind) + 2]] = ref
    return out


STEP_KINDS = {
    "--from=agent / /": "copy the agent layer onto the task image",
    "setup.sh": "RUN setup.sh (cached: nop's eval image ran it)",
    "exporting to image": "export the eval image (diff, digest, store)",
}


def step_times(plain: str) -> dict[str, float]:
    """Seconds per kind of eval-image step, from `bake --progress plain` output."""
    names: dict[str, str] = {}
    out = dict.fromkeys(STEP_KINDS.values(), 0.0)
    for line in plain.splitlines():
        m = re.match(r"#(\d+) (\[.*)", line)
        if m and m.group(1) not in names:
            names[m.group(1)] = m.group(2)
        m = re.match(r"#(\d+) DONE ([0-9.]+)s", line)
        if m and "[eval__" in names.get(m.group(1), ""):
            for needle, kind in STEP_KINDS.items():
                if needle in names[m.group(1)]:
                    out[kind] += float(m.group(2))
    return out


def per_task_benchmark(root: Path, n: int, nonce: str) -> Path:
    """A per-task benchmark of n tasks cloned from terminal-tasks, each task image made
    unique by a nonce layer, so no eval image of this run is in the build cache already."""
    src = REPO / "containers" / "benchmarks" / BENCH
    dst = root / "bench"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("tasks"))
    originals = sorted(p for p in (src / "tasks").iterdir() if p.is_dir())
    for k in range(n):
        orig = originals[k % len(originals)]
        task = dst / "tasks" / f"{orig.name}-{k + 1}"
        shutil.copytree(orig, task)
        with (task / "environment" / "Dockerfile").open("a") as f:
            f.write(f"\nRUN echo {nonce}-{k + 1} > /etc/bakectl-bench-nonce\n")
    return dst


def local_unique(ref: str) -> str:
    """docker system df's UNIQUE SIZE for one image (what the local store holds for it alone)."""
    out = sh("docker", "system", "df", "-v", "--format", "{{json .}}").stdout
    repo, tag = ref.rsplit(":", 1)
    for img in json.loads(out)["Images"]:
        if img["Repository"] == repo and img["Tag"] == tag:
            return img["UniqueSize"]
    return "?"


def shared_layer(agent: str, n: int) -> None:
    """The first eval image, then T(1): one more alone, and T(n): n more in one bake graph
    (one command), each on its own task image; marginal per image = (T(n) - T(1)) / (n - 1)."""
    ns = f"agbench-{os.getpid()}"  # a namespace of its own: everything it tags is removed after
    with tempfile.TemporaryDirectory() as d:
        bench = per_task_benchmark(Path(d), n + 2, ns)
        p = ("-p", str(bench), "--registry", ns)
        try:
            _shared_layer(agent, n, p)
        finally:
            mine = sh("docker", "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
            mine = [ref for ref in mine if ref.startswith(ns + "/")]
            if mine:
                sh("docker", "image", "rm", "-f", *mine, check=False)


def _shared_layer(agent: str, n: int, p: tuple[str, ...]) -> None:
    # Warm, not timed: the task images, another agent's eval images (a benchmark one adds an
    # agent to has some) and the agent image; none of this agent's eval images.
    tasks = refs(bakectl("build", "bench", *p, "--task-id", "all"), "task")
    ids = sorted(tasks)
    bakectl("build", "eval", *p, "--agent", "nop", "--task-id", "all")
    agent_ref = bakectl("build", "agent", agent, *p[2:]).stderr.strip().rsplit(" ", 1)[-1]
    agent_size = inspect(agent_ref)["Size"]
    first, second, rest = ids[0], ids[1], ids[2:]

    start = time.monotonic()
    zero = refs(bakectl("build", "eval", *p, "--agent", agent, "--task-id", first), "eval")
    t0 = time.monotonic() - start
    start = time.monotonic()
    one = refs(bakectl("build", "eval", *p, "--agent", agent, "--task-id", second), "eval")
    t1 = time.monotonic() - start
    argv = [a for t in rest for a in ("--task-id", t)]
    start = time.monotonic()
    res = bakectl("build", "eval", *p, "--agent", agent, *argv, "--progress", "plain")
    tn = time.monotonic() - start
    many = refs(res, "eval")
    built = {**zero, **one, **many}

    print(f"\n1. {agent} added to every task of a per-task benchmark ({n + 2} tasks cloned from")
    print(f"   {BENCH}, each task image unique so nothing is in the build cache; nop's eval")
    print("   images and the agent image built first, not timed)")
    print(f"   agent image (prefix + files): {mb(agent_size)}  ({agent_ref})")
    print(f"   first eval image (makes the agent layer), one command: {t0:6.2f} s")
    print(f"   T(1)  one more eval image, one command:             {t1:6.2f} s")
    print(f"   T({n}) {n} eval images, one command (one bake graph): {tn:6.2f} s")
    marginal = (tn - t1) / (n - 1) if n > 1 else float("nan")
    print(f"   marginal per eval image, (T({n}) - T(1)) / {n - 1}:      {marginal:6.2f} s")
    print(f"   where T({n}) went (BuildKit's step times, summed over the {n} eval images; steps")
    print("   overlap on the two cores, so the sum can exceed the wall time):")
    for what, secs in step_times(res.stderr).items():
        print(f"     {what:<44} {secs:6.2f} s  ({secs / n:5.2f} s per image)")
    print("   eval image           adds beyond task image  new bytes by layer digest  local store")
    added = {}
    for task in ids:
        img, base = inspect(built[task]), inspect(tasks[task])
        base_layers = set(base["RootFS"]["Layers"])
        added[task] = [x for x in img["RootFS"]["Layers"] if x not in base_layers]
    # The agent layer: the one every eval image has above its own task image (the runtime's
    # setup layer differs per base). Counted once, when first seen; other layers count whole.
    common = set.intersection(*(set(a) for a in added.values()))
    seen: set[str] = set()
    for task in ids:
        grown = inspect(built[task])["Size"] - inspect(tasks[task])["Size"]
        shared = bool(common & seen)
        new = grown - (agent_size if shared else 0)
        seen.update(added[task])
        print(
            f"   {task:<20} {mb(grown)} ({len(added[task])} layers)  {mb(new)}"
            f"{'  agent layer shared' if shared else '  agent layer new   '}"
            f"  unique {local_unique(built[task])}"
        )
    print(
        "   (new bytes by digest: what a registry push or pull moves; 'local store': docker\n"
        "   system df's UNIQUE SIZE, which on the classic overlay2 store counts the same layer\n"
        "   again under every different parent)"
    )
    per_image_install(agent, ids, agent_size, p, tasks)


def per_image_install(
    agent: str, ids: list[str], agent_size: int, p: tuple[str, ...], tasks: dict[str, str]
) -> None:
    """What the shared layer replaces: the same offline install, RUN in each task image."""
    layer = renderer().agent(renderer().catalog.agent(agent))
    steps = layer.dockerfile_text.split("RUN sh /installer/install-prefix.sh", 1)[1]
    # The installer and the packages bind-mounted, as a per-image install would: only the
    # prefix it installs is added to the image.
    run_line = (
        "RUN --mount=type=bind,from=installer,target=/installer "
        "--mount=type=bind,from=vendor,target=/vendor "
        "sh /installer/install-prefix.sh" + steps.split("\n\n", 1)[0]
    )
    print("   per-image install it replaces (the same vendored install RUN in each task image,")
    print("   each its own `docker buildx build`, --no-cache):")
    took_all, grown_all = [], []
    for task in ids[:2]:
        base = tasks[task]
        with tempfile.TemporaryDirectory() as d:
            df = Path(d) / "Dockerfile"
            df.write_text(f"FROM {base}\n{run_line}\n")
            tag = f"{p[-1]}/per-image-install:{task}"
            start = time.monotonic()
            sh(
                "docker", "buildx", "build", "--load", "--no-cache", "--network", "none",
                "-f", str(df),
                "--build-context", f"installer={INSTALLER_DIR}",
                "--build-context", f"vendor={layer.contexts['vendor']}",
                "-t", tag, d,
            )  # fmt: skip
            took = time.monotonic() - start
            took_all.append(took)
            grown = inspect(tag)["Size"] - inspect(base)["Size"]
            grown_all.append(grown)
            sh("docker", "image", "rm", "-f", tag, check=False)
        print(f"   {task:<20} {took:6.2f} s  adds {mb(grown)}, all of it new (its own install)")
    print(
        f"   => per image: per-image install {sum(took_all) / len(took_all):.2f} s and "
        f"{mb(sum(grown_all) / len(grown_all)).strip()} new; shared layer: the marginal above, "
        "0 MB new by digest"
    )


def sizes_and_times(agents: list[str]) -> None:
    r = renderer()
    cat = r.catalog
    print("\n2./3. per agent: image size, start-up (--version) vs a replayed run (arith-1)")
    print(
        "   (--version: `docker run` of it in the eval image; replayed run: `bakectl run --replay`"
    )
    print("   wall time, and its agent phase alone, as run.json times it)")
    print(
        f"   {'agent':<16} {'agent image':>12} {'--version':>10} {'replayed run':>13}"
        f" {'agent phase':>12}  run/--version"
    )
    for name in agents:
        ag = cat.agent(name)
        fixture = REPO / "tests" / "fixtures" / "agents" / name / "arith-1"
        if not fixture.is_dir():
            print(f"   {name:<16} (no fixture)")
            continue
        ev = r.eval(cat.benchmark("arith"), ag, cat.task("arith", "1"))
        bakectl("build", "eval", "arith", "--agent", name)
        size = inspect(r.agent(ag).image)["Size"]
        cmd = ag.spec.version_command
        prefix = f"/opt/bakectl/agents/{name}/{ag.spec.version}/bin/"
        start = time.monotonic()
        sh("docker", "run", "--rm", "--network", "none", "--entrypoint", prefix + cmd[0],
           ev.image, *cmd[1:])  # fmt: skip
        version = time.monotonic() - start
        with tempfile.TemporaryDirectory() as out:
            start = time.monotonic()
            bakectl("run", "arith", "--agent", name, "--task-id", "1", "--replay", str(fixture),
                    "--out", out, "--no-build")  # fmt: skip
            replay = time.monotonic() - start
            (run_json,) = Path(out).glob("*/tasks/*/attempt-1/run.json")
            phase = json.loads(run_json.read_text())["timings"]["agent"]
        print(
            f"   {name:<16} {mb(size)} {version:8.2f} s {replay:11.2f} s {phase:10.2f} s"
            f"  {replay / version:5.1f}x"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--agent", default="claude-code", help="the agent added to every task")
    p.add_argument("-n", type=int, default=6, help="eval images in the one-graph build (T(n))")
    p.add_argument("--skip-sizes", action="store_true", help="only part 1")
    p.add_argument("--skip-layer", action="store_true", help="only parts 2 and 3")
    p.add_argument("--agents", default="", help="agents for sizes/times (default: all fixtures)")
    a = p.parse_args()
    if not a.skip_layer:
        shared_layer(a.agent, a.n)
    if a.skip_sizes:
        return 0
    fx = REPO / "tests" / "fixtures" / "agents"
    agents = a.agents.split(",") if a.agents else sorted(d.name for d in fx.iterdir())
    sizes_and_times(agents)
    return 0


if __name__ == "__main__":
    sys.exit(main())
