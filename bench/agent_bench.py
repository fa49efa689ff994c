"""Installed agents: what the shared prefix layer saves, image sizes, replayed-run wall time.

One run, side by side:

1. adding one real agent (default claude-code) to every task of a per-task benchmark
   (terminal-tasks): each eval image's build time and the bytes it adds beyond its task
   image, with the agent layer counted once when its digest is one an earlier image already
   has; against the per-image install it replaces (the same vendored install run inside each
   task image: its build time and the prefix it adds to every image);
2. agent image size per installed agent (its prefix + files);
3. per agent: a replayed run's wall time (`bakectl run --replay` of its arith-1 fixture)
   against the agent's own start-up (`<agent> --version` in its eval image).

Targets: the N-th eval image builds in <= 1 s and adds <= 1 MB of new layers. Prints
figures; asserts nothing. Needs the agents fetched (`bakectl agents fetch A`).

    python bench/agent_bench.py [--agent claude-code] [--agents claude-code,codex,...]
"""

from __future__ import annotations

import argparse
import json
import os
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


def shared_layer(agent: str, tasks: list[str]) -> None:
    r = renderer()
    cat = r.catalog
    bench, ag = cat.benchmark(BENCH), cat.agent(agent)
    # Warm: task images and the agent image exist; the eval images do not.
    targets = [r.eval(bench, ag, cat.task(BENCH, t)) for t in tasks]
    bakectl("build", "eval", BENCH, "--agent", "nop")  # every task image
    agent_ref = r.agent(ag).image
    bakectl("build", "eval", BENCH, "--agent", agent, "--task-id", tasks[0])
    for t in targets[1:]:
        sh("docker", "image", "rm", "-f", t.image, check=False)
    agent_size = inspect(agent_ref)["Size"]
    seen: set[str] = set()
    print(f"\n1. {agent} added to every task of {BENCH} ({len(tasks)} tasks)")
    print(f"   agent layer (prefix + files): {mb(agent_size)}  ({agent_ref})")
    print("   shared layer: eval image N      build     adds beyond its task image   new bytes")
    for i, (task, t) in enumerate(zip(tasks, targets, strict=True), 1):
        start = time.monotonic()
        if i > 1:
            bakectl("build", "eval", BENCH, "--agent", agent, "--task-id", task)
        took = time.monotonic() - start
        img, base = inspect(t.image), inspect(t.deps[0].image)
        base_layers = set(base["RootFS"]["Layers"])
        added = [d for d in img["RootFS"]["Layers"] if d not in base_layers]
        grown = img["Size"] - base["Size"]
        # The layer COPY --from=agent made is the first one above the task image.
        agent_layer = added[0]
        shared = agent_layer in seen
        seen.update(added)
        new = grown - (agent_size if shared else 0)
        note = "agent layer shared" if shared else "agent layer new"
        when = f"{took:6.2f} s" if i > 1 else "  (first)"
        print(f"   {i:>2} {task:<26} {when}  {mb(grown)} ({len(added)} layers)  {mb(new)}  {note}")
    per_image_install(agent, tasks, agent_size)


def per_image_install(agent: str, tasks: list[str], agent_size: int) -> None:
    """What the shared layer replaces: the same offline install, run in each task image."""
    r = renderer()
    cat = r.catalog
    bench, ag = cat.benchmark(BENCH), cat.agent(agent)
    layer = r.agent(ag)
    steps = layer.dockerfile_text.split("RUN sh /installer/install-prefix.sh", 1)[1]
    run_line = "RUN sh /installer/install-prefix.sh" + steps.split("\n\n", 1)[0]
    print("   per-image install (the same vendored install, RUN in each task image):")
    for i, task in enumerate(tasks[:2], 1):
        base = r.base(bench, cat.task(BENCH, task)).image
        with tempfile.TemporaryDirectory() as d:
            df = Path(d) / "Dockerfile"
            df.write_text(
                f"FROM {base}\nCOPY --from=installer install-prefix.sh /installer/\n"
                f"COPY --from=vendor . /vendor/\n{run_line}\n"
            )
            tag = f"bakectl-bench/per-image-install:{os.getpid()}-{i}"
            start = time.monotonic()
            sh(
                "docker", "buildx", "build", "--load", "--no-cache", "--network", "none",
                "-f", str(df),
                "--build-context", f"installer={INSTALLER_DIR}",
                "--build-context", f"vendor={layer.contexts['vendor']}",
                "-t", tag, d,
            )  # fmt: skip
            took = time.monotonic() - start
            grown = inspect(tag)["Size"] - inspect(base)["Size"]
            sh("docker", "image", "rm", "-f", tag, check=False)
        print(f"   {i:>2} {task:<26} {took:6.2f} s  {mb(grown)}  every image: unique")
    print(f"   => per image: shared layer adds ~0 MB of the {mb(agent_size).strip()} prefix")


def sizes_and_times(agents: list[str]) -> None:
    r = renderer()
    cat = r.catalog
    print("\n2./3. per agent: image size, start-up (--version) vs a replayed run (arith-1)")
    print(f"   {'agent':<16} {'agent image':>12} {'--version':>10} {'replayed run':>13}  ratio")
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
        print(
            f"   {name:<16} {mb(size)} {version:8.2f} s {replay:11.2f} s  {replay / version:5.1f}x"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--agent", default="claude-code", help="the agent added to every task")
    p.add_argument("--agents", default="", help="agents for sizes/times (default: all fixtures)")
    a = p.parse_args()
    tasks = Catalog(REPO).task_ids(BENCH)
    shared_layer(a.agent, tasks)
    fx = REPO / "tests" / "fixtures" / "agents"
    agents = a.agents.split(",") if a.agents else sorted(d.name for d in fx.iterdir())
    sizes_and_times(agents)
    return 0


if __name__ == "__main__":
    sys.exit(main())
